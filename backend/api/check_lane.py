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

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from backend.api.lanes import (
    bearer_token,
    client_request_id,
    finish,
    flask_error,
    read_plain_body,
)
from backend.api.limits import COUNTED, wait_on
from backend.errors import QonysError
from backend.schemas.register import CheckOut
from backend.services.access import audit
from backend.services.access.tokens import verify_cached
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
        if environ.get("QUERY_STRING") or environ.get("CONTENT_TYPE") != "application/json":
            return None
        secret = bearer_token(environ)
        body = read_plain_body(environ, MAX_BODY) if secret else None
        wanted = plain_body(body) if body else None
        if secret is None or wanted is None:
            return None
        extensions = self.app.extensions
        database = extensions["qonys.db"]
        request_id = str(uuid.uuid4())
        try:
            who = verify_cached(database.autocommit.connect, secret)
        except Exception as error:  # the database down: 503, as Flask answers it
            return flask_error(self.app, environ, error, request_id)(environ, start_response)
        if who is None or who.role != "officer":
            return None
        key = f"user:{who.user_id}" if who.user_id is not None else f"token:{who.token_id}"
        limit = extensions["qonys.settings"].api_rate_limit
        wait = wait_on(extensions["qonys.rate_leases"], limit, "api", key, ENDPOINT)
        # Counted here, never again by Flask: 0 within the limit, else the Retry-After.
        environ[COUNTED] = wait or 0
        if wait is not None:
            return None  # Flask answers the 429
        context = audit.Context(who, None, request_id, client_request_id(environ))
        location = {"lat": wanted.location.lat, "lon": wanted.location.lon}
        try:
            with database.autocommit.connect() as conn:
                result = checks.run_check(conn, context, wanted.iin, None, location)
            response = self.app.json.response(self.schema.dump(result))
        except QonysError:  # a refusal, raised before the store: Flask's to answer
            return None
        except Exception as error:  # an outage or a fault, perhaps after the store: once
            return flask_error(self.app, environ, error, request_id)(environ, start_response)
        self.taken += 1
        return finish(response, request_id)(environ, start_response)
