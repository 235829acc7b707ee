"""A device's clean batch of points, answered beside Flask.

A phone uploading its backlog sends ``POST /api/v1/traces`` with up to 5,000 points.
When every point is clean (``traces.clean_of``), the batch is stored whole by one
autocommit statement (``traces.ingest_clean``), and issue 27 asks that the upload runs
at half the speed of a raw COPY. Flask's stack (its contexts and hooks, the limit and
authentication decorators, webargs reading the body a first time with orjson, the
schema's rendering) cost 1.2 ms of CPU per batch of 1,000 points, in a warm loop
in-process, beside 1.9 ms for reading, checking and storing it; served, more.

This lane is WSGI middleware in front of Flask that takes the upload when it is plain:

- ``POST /api/v1/traces``, no query string, ``Content-Type: application/json``, no
  ``Idempotency-Key`` (its replay store is Flask's), no cookie, no chunked body;
- a bearer token that verifies as a device's (the same cache and lookup as Flask's);
- a body the app's JSON parser reads as msgspec does (UTF-8, no run of 19 digits),
  whose every point is clean, as the route reads it (``traces.clean_of``), and no more
  points than the route takes;
- within the token's batch limit (the same leased count, counted once: over it, the
  lane answers the 429 through Flask's handlers).

It then stores the batch with :func:`store_clean`, which the route calls too, and
renders the same schema through the app's JSON provider, with the headers Flask's hooks
add. Anything else goes to Flask untouched, which answers it as it always has (a batch
with a bad point, point by point); an outage or a fault is answered once by Flask's
error handlers (``api/lanes.py``), never stored a second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from backend.api.input_guard import has_long_run
from backend.api.lanes import JsonLane, client_request_id
from backend.api.limits import TOO_MANY, limit_key, wait_on
from backend.api.phone_lane import kick_alerts
from backend.errors import TooMany
from backend.schemas.traces import TraceResultOut
from backend.services.access import audit
from backend.services.access.tokens import Principal
from backend.services.tracking import traces

PATH = "/api/v1/traces"
ENDPOINT = "traces.post_traces"  # the Flask view's endpoint: the limit's key names it
ACTION = "traces.ingest.batch"


def store_clean(
    extensions: dict[str, Any], context: audit.Context, person_id: int, clean: traces.CleanBatch
) -> traces.IngestResult:
    """A device's batch whose every point is clean: stored whole, with its audit row, in
    one autocommit statement; then the alert evaluation of what it stored is asked for."""
    result = traces.ingest_clean(
        extensions["qonys.db"],
        clean,
        person_id,
        "batch",
        extensions["qonys.settings"],
        context,
        ACTION,
    )
    if result.accepted:
        kick_alerts(extensions)
    return result


def _parsed_alike_by_flask(body: bytes) -> bool:
    """Whether msgspec's reading of the body may stand for the route's: the route first
    reads the whole body with the app's JSON parser (``input_guard.loads``), then
    msgspec's. msgspec skips a field it does not know without reading it, so a body
    with text that is not UTF-8 or a 4,301-digit integer there, which the parser
    refuses (400), would be stored here; and a run of 19 digits sends the parser to the
    stdlib, whose depth limit counts the frames below it. Such bodies are Flask's."""
    if not body.isascii():
        try:
            body.decode()
        except UnicodeDecodeError:
            return False
    return not has_long_run(body)


class BatchLane(JsonLane):
    """WSGI middleware: plain device batches answered here, the rest by ``flask_app``."""

    path = PATH
    role = "device"

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Any) -> None:
        super().__init__(wsgi_app, flask_app, TraceResultOut())

    def not_plain(self, environ: dict[str, Any]) -> bool:
        return "HTTP_IDEMPOTENCY_KEY" in environ  # its replay store is Flask's

    def max_body(self) -> int:
        return int(self.app.extensions["qonys.settings"].max_body_bytes)

    def plain(self, body: bytes) -> bytes | None:
        # The body itself: whether its points are clean depends on the device.
        return body if _parsed_alike_by_flask(body) else None

    def answer(
        self,
        environ: dict[str, Any],
        start_response: Any,
        who: Principal,
        wanted: bytes,
        request_id: str,
    ) -> Iterable[bytes] | None:
        if who.person_id is None:
            return None
        extensions = self.app.extensions
        settings = extensions["qonys.settings"]
        clean = traces.clean_of(wanted, who.person_id, settings)
        if clean is None or clean.count > settings.trace_max_points:
            return None  # point by point, or refused whole: Flask's
        leases = extensions["qonys.rate_leases"]
        wait = wait_on(leases, settings.batch_rate_limit, "batch", limit_key(who), ENDPOINT)
        # Counted here, so answered here when over, through Flask's handlers: passed on,
        # the route's limit decorator would count it a second time.
        if wait is not None:
            return self.error(environ, start_response, TooMany(TOO_MANY, wait), request_id)
        context = audit.Context(who, None, request_id, client_request_id(environ))
        try:
            result = store_clean(extensions, context, who.person_id, clean)
            response = self.app.json.response(self.schema.dump(result))
        except Exception as error:  # an outage or a fault, perhaps after the store: once
            return self.error(environ, start_response, error, request_id)
        response.status_code = 202
        return self.done(environ, start_response, response, request_id)
