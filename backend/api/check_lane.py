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
Anything else, and a refusal raised before the check is stored (a wrong check digit, a
region refused, a document held twice), goes to Flask untouched, which answers it as it
always has. An outage or a fault is answered once by Flask's error handlers
(``api/lanes.py``), never run a second time. A request the lane counted against the
limit is marked, and Flask does not count it again (over the limit, Flask answers the
429 with the lane's Retry-After).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from backend.api.lanes import JsonLane, client_request_id
from backend.api.limits import COUNTED, limit_key, wait_on
from backend.errors import QonysError
from backend.identifiers import ascii_digits
from backend.schemas.register import CheckOut
from backend.services.access import audit
from backend.services.access.tokens import Principal
from backend.services.register import checks

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
    if len(iin) != 12 or not ascii_digits(iin):
        return None
    if not (-90 <= where.lat <= 90 and -180 <= where.lon <= 180):
        return None  # NaN fails both too
    return found


class CheckLane(JsonLane):
    """WSGI middleware: plain checks answered here, everything else by ``flask_app``."""

    path = PATH
    role = "officer"

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Any) -> None:
        super().__init__(wsgi_app, flask_app, CheckOut())

    def max_body(self) -> int:
        return MAX_BODY

    def plain(self, body: bytes) -> _Check | None:
        return plain_body(body)

    def answer(
        self,
        environ: dict[str, Any],
        start_response: Any,
        who: Principal,
        wanted: _Check,
        request_id: str,
    ) -> Iterable[bytes] | None:
        extensions = self.app.extensions
        limit = extensions["qonys.settings"].api_rate_limit
        wait = wait_on(extensions["qonys.rate_leases"], limit, "api", limit_key(who), ENDPOINT)
        # Counted here, never again by Flask: 0 within the limit, else the Retry-After.
        environ[COUNTED] = wait or 0
        if wait is not None:
            return None  # Flask answers the 429
        context = audit.Context(who, None, request_id, client_request_id(environ))
        location = {"lat": wanted.location.lat, "lon": wanted.location.lon}
        try:
            with extensions["qonys.db"].autocommit.connect() as conn:
                result = checks.run_check(conn, context, wanted.iin, None, location)
            response = self.app.json.response(self.schema.dump(result))
        except QonysError:  # a refusal, raised before the store: Flask's to answer
            return None
        except Exception as error:  # an outage or a fault, perhaps after the store: once
            return self.error(environ, start_response, error, request_id)
        return self.done(environ, start_response, response, request_id)
