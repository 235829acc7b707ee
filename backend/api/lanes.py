"""What the two lanes beside Flask share (``api/check_lane.py``, ``api/phone_lane.py``).

A lane answers a plain request without Flask's contexts and hooks. For every answer it
gives, it owes what Flask would have said:

- a request it does not take, or a refusal raised before anything was written, goes to
  Flask untouched (:func:`read_plain_body` leaves the body readable), and Flask answers
  it as it always has;
- any other error (an outage, a fault, perhaps after a write) is answered by Flask's
  own error handlers, once, without running the request a second time
  (:func:`flask_error`): the same 503 and ``Retry-After``, the same log line;
- its own answers carry the headers Flask's hooks add (:func:`finish`). The lanes'
  tests compare every header with Flask's, so a header a hook adds later fails them.
"""

from __future__ import annotations

import io
from typing import Any

from flask import g
from werkzeug.datastructures import Authorization
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_content_length

from backend import outages


def read_plain_body(environ: dict[str, Any], max_bytes: int) -> bytes | None:
    """The request's body when the request may be plain: no cookie (sessions are
    Flask's), no chunked body, a ``Content-Length`` of at most ``max_bytes``; else None.
    The body stays readable by Flask either way."""
    if "HTTP_COOKIE" in environ or "HTTP_TRANSFER_ENCODING" in environ:
        return None
    # As werkzeug reads it for Flask: 0 unless it is digits alone (``int`` also reads
    # "+12", "1_2" and " 12 ", which a server other than gunicorn lets through).
    length = get_content_length(environ) or 0
    if length > max_bytes:
        return None
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def bearer_token(environ: dict[str, Any]) -> str | None:
    """The token of ``Authorization: Bearer …`` exactly as Flask-HTTPAuth reads it
    (werkzeug's parsing: the scheme in any case, one space, the rest stripped)."""
    auth = Authorization.from_header(environ.get("HTTP_AUTHORIZATION"))
    if auth is None or auth.type != "bearer" or not auth.token:
        return None
    return auth.token


def client_request_id(environ: dict[str, Any]) -> str | None:
    """The id a client sent with its request, kept beside ours (``assign_request_id``
    reads it here too)."""
    incoming = str(environ.get("HTTP_X_REQUEST_ID", "")).strip()
    return incoming[:100] or None


def finish(response: Response, request_id: str) -> Response:
    """The headers Flask's hooks add to an API answer (``app._tag``; ``Vary`` because
    the session is asked on every request), and what ``_database_back`` says after an
    API answer under 500: a database outage is over."""
    if outages.DATABASE.down:
        outages.DATABASE.ok()
    response.headers["X-Request-Id"] = request_id
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Vary"] = "Cookie"
    return response


def flask_error(app: Any, environ: dict[str, Any], error: Exception, request_id: str) -> Response:
    """``error`` answered by the app's own error handlers and after-request hooks, in a
    request context of its own, without running the view again."""
    environ["wsgi.input"].seek(0)
    with app.request_context(environ):
        g.request_id = request_id
        g.client_request_id = client_request_id(environ)
        try:
            answer = app.handle_user_exception(error)
        except Exception as unhandled:  # no handler took it: Flask's last resort
            answer = app.handle_exception(unhandled)
        response: Response = app.process_response(app.make_response(answer))
        return response
