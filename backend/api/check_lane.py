"""The officer's check, answered beside Flask when the request is plain.

An officer's check is the API's most frequent read-and-write, and the goal of issue 27
is that it answers at half the database's own speed. Served, the API's processes spent
about 1 ms of CPU per check where the same Python spends 0.45 ms in a warm loop: every
layer a request passes (Flask's contexts and hooks, APIFlask's decorators, webargs,
Flask-Login, Flask-Limiter, the session) runs again from cold caches in each request,
so the cost is the code's reach more than its own time. This lane is WSGI middleware in
front of Flask that takes a check only when everything about it is plain:

- ``POST /api/v1/checks``, no query string, ``Content-Type: application/json``, a
  ``Content-Length`` of at most 4 KiB, no cookie;
- a bearer token that verifies as an officer's (the same cache and lookup as Flask's);
- a body of exactly ``{"iin": <12 digits>, "location": {"lat": …, "lon": …}}`` in
  range (msgspec; any other key, type or value is not plain);
- within the token's API limit (the same leased count, counted once).

It then runs the same :func:`checks.run_check` with the same audit context and renders
the same schema through the app's JSON provider, with the headers Flask's hooks add.
Anything else, and any error before the check is stored (a wrong check digit, a region
refused, the database down), goes to Flask untouched, which answers it as it always has:
the lane answers no refusal itself. A request it passes on after counting it against
the limit is marked, and Flask does not count it again. A fault after the check was
stored is answered 500 as Flask answers one, and never run a second time.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from flask import g

from backend import outages
from backend.api.limits import COUNTED, wait_on
from backend.api.problems import problem
from backend.schemas.register import CheckOut
from backend.services.access import audit
from backend.services.access.tokens import verify_cached
from backend.services.register import checks

log = logging.getLogger("qonys.api")

PATH = "/api/v1/checks"
ENDPOINT = "checks.check"  # the Flask view's endpoint: the limit's key names it
MAX_BODY = 4096


class _Location(msgspec.Struct, forbid_unknown_fields=True):
    lat: float
    lon: float


class _Check(msgspec.Struct, forbid_unknown_fields=True):
    iin: str
    location: _Location


_DECODER = msgspec.json.Decoder(_Check)


def plain_body(body: bytes) -> _Check | None:
    """The check a body asks for when it is plain (see the module), else None."""
    try:
        found = _DECODER.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    iin, where = found.iin, found.location
    if len(iin) != 12 or not iin.isascii() or not iin.isdigit():
        return None
    if not (-90 <= where.lat <= 90 and -180 <= where.lon <= 180):
        return None  # NaN fails both too
    return found


class CheckLane:
    """WSGI middleware: plain checks answered here, everything else by ``flask_app``."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Any) -> None:
        self.next = wsgi_app
        self.app = flask_app
        self.schema = CheckOut()
        self.enabled = True
        # Checks answered here, for tests and benchmarks (threads may lose an increment).
        self.taken = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if (
            self.enabled
            and environ.get("PATH_INFO") == PATH
            and environ.get("REQUEST_METHOD") == "POST"
        ):
            answer = self._try(environ, start_response)
            if answer is not None:
                return answer
        return self.next(environ, start_response)

    def _try(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes] | None:
        if (
            environ.get("QUERY_STRING")
            or environ.get("CONTENT_TYPE") != "application/json"
            or "HTTP_COOKIE" in environ
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= MAX_BODY:
            return None
        parts = environ.get("HTTP_AUTHORIZATION", "").split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return None
        body = environ["wsgi.input"].read(length)
        # Whatever happens next, Flask can still read the body.
        environ["wsgi.input"] = io.BytesIO(body)
        wanted = plain_body(body) if len(body) == length else None
        if wanted is None:
            return None
        extensions = self.app.extensions
        database = extensions["qonys.db"]
        try:
            who = verify_cached(database.autocommit.connect, parts[1].strip())
        except Exception:  # the database down: Flask answers 503 as it always does
            return None
        if who is None or who.role != "officer":
            return None
        key = f"user:{who.user_id}" if who.user_id is not None else f"token:{who.token_id}"
        limit = extensions["qonys.settings"].api_rate_limit
        if wait_on(extensions["qonys.rate_leases"], limit, "api", key, ENDPOINT) is not None:
            return None  # Flask counts it again (still over) and answers 429
        environ[COUNTED] = True
        incoming = environ.get("HTTP_X_REQUEST_ID", "").strip()
        context = audit.Context(who, None, str(uuid.uuid4()), incoming[:100] or None)
        location = {"lat": wanted.location.lat, "lon": wanted.location.lon}
        try:
            with database.autocommit.connect() as conn:
                result = checks.run_check(conn, context, wanted.iin, None, location)
        except Exception:  # every refusal and outage is Flask's to answer
            return None
        if outages.DATABASE.down:
            outages.DATABASE.ok()
        self.taken += 1
        try:
            response = self.app.json.response(self.schema.dump(result))
        except Exception:
            # Stored, so never run again through Flask: answered as Flask answers a fault.
            log.exception("unhandled error")
            with self.app.app_context():
                g.request_id = context.request_id
                response = problem(500, "an internal error occurred; it has been logged")
        response.headers["X-Request-Id"] = context.request_id
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Vary"] = "Cookie"  # as Flask says of an answer that asked the session
        return response(environ, start_response)  # type: ignore[no-any-return]
