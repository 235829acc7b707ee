"""What the lanes beside Flask share (``api/check_lane.py``, ``api/batch_lane.py``,
``api/phone_lane.py``).

A lane answers a plain request without Flask's contexts and hooks. For every answer it
gives, it owes what Flask would have said:

- a request it does not take, or a refusal raised before anything was written, goes to
  Flask untouched (:func:`read_plain_body` leaves the body readable), and Flask answers
  it as it always has. One exception: a batch over its limit, which the batch lane has
  counted, is answered by the lane through Flask's handlers (:func:`flask_error`), as
  Flask's limit decorator would count it again (the check lane marks the request
  counted instead, which ``limits.check_api_limit`` reads);
- any other error (an outage, a fault, perhaps after a write) is answered by Flask's
  own error handlers, once, without running the request a second time
  (:func:`flask_error`): the same 503 and ``Retry-After``, the same log line;
- its own answers carry the headers Flask's hooks add (:func:`finish`). The lanes'
  tests compare every header with Flask's, so a header a hook adds later fails them.

The check and batch lanes take one POST path with a JSON body and a bearer token of one
role: :class:`JsonLane` is what they share.
"""

from __future__ import annotations

import io
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from flask import g
from werkzeug.datastructures import Authorization
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.utils import get_content_type
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_content_length

from backend import outages
from backend.services.access.tokens import Principal, verify_cached


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


# The secrets a lane found unknown, for Flask to answer 401 without asking the database
# a second time (the same request's environ: a lane hands Flask the request untouched).
UNKNOWN_TOKENS = "qonys.unknown_tokens"


def unknown_tokens(environ: dict[str, Any]) -> set[str]:
    """The secrets already found unknown for this request (:data:`UNKNOWN_TOKENS`)."""
    found: set[str] = environ.setdefault(UNKNOWN_TOKENS, set())
    return found


def verify_once(unknown: set[str], connect: Callable[[], Any], secret: str) -> Principal | None:
    """``secret``'s principal (``verify_cached``), asked of the database once a request:
    a secret already in ``unknown`` (:func:`unknown_tokens`) is not asked again, and one
    found unknown joins it."""
    if secret in unknown:
        return None
    who = verify_cached(connect, secret)
    if who is None:
        unknown.add(secret)
    return who


def client_request_id(environ: dict[str, Any]) -> str | None:
    """The id a client sent with its request, kept beside ours (``assign_request_id``
    reads it here too)."""
    incoming = str(environ.get("HTTP_X_REQUEST_ID", "")).strip()
    return incoming[:100] or None


def hook_headers(request_id: str, status: int) -> list[tuple[str, str]]:
    """The headers Flask's hooks add to an API answer (``app._tag``; ``Vary`` because
    the session is asked on every request), and what ``_database_back`` says after an
    answer of ``status``: if it used the database and is under 500, an outage there is
    over."""
    outages.database_answered(status)
    return [("X-Request-Id", request_id), ("X-Content-Type-Options", "nosniff"), ("Vary", "Cookie")]


def finish(response: Response, request_id: str) -> Response:
    """``response`` with the headers Flask's hooks add (:func:`hook_headers`)."""
    for name, value in hook_headers(request_id, response.status_code):
        response.headers[name] = value
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


class Lane:
    """What every lane holds and how it ends: the next app (Flask) for what it does not
    take, whether it is on (tests turn it off to hear Flask alone), how many requests it
    answered, and its two endings (:meth:`done`, :meth:`error`)."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Any) -> None:
        self.next = wsgi_app
        self.app = flask_app
        self.enabled = True
        # Requests answered here, for tests and benchmarks (threads may lose an increment).
        self.taken = 0

    def error(
        self, environ: dict[str, Any], start_response: Any, error: Exception, request_id: str
    ) -> Iterable[bytes]:
        """``error`` answered by Flask's handlers (:func:`flask_error`)."""
        return flask_error(self.app, environ, error, request_id)(environ, start_response)

    def done(
        self, environ: dict[str, Any], start_response: Any, response: Response, request_id: str
    ) -> Iterable[bytes]:
        """The lane's own answer, with the headers Flask's hooks add."""
        self.taken += 1
        return finish(response, request_id)(environ, start_response)

    def done_text(
        self,
        environ: dict[str, Any],
        start_response: Any,
        status: int,
        text: str,
        mimetype: str,
        request_id: str,
    ) -> Iterable[bytes]:
        """A short text answer as :meth:`done` gives it through the app's response class,
        written without building one when it can be: a 2xx with a body (what werkzeug
        sends for it: the status line, ``Content-Type`` and ``Content-Length``). Phones
        are the API's busiest callers (``api/phone_lane.py``). Any other status (a 204
        or 304 drops headers, an unknown code is named otherwise) is werkzeug's to
        write; a HEAD is Flask's and never reaches a lane."""
        if not (200 <= status < 300 and status != 204 and status in HTTP_STATUS_CODES):
            response = self.app.response_class(text, status=status, mimetype=mimetype)
            return self.done(environ, start_response, response, request_id)
        self.taken += 1
        body = text.encode()
        start_response(
            f"{status} {HTTP_STATUS_CODES[status].upper()}",
            [
                ("Content-Type", get_content_type(mimetype, "utf-8")),
                ("Content-Length", str(len(body))),
                *hook_headers(request_id, status),
            ],
        )
        return [body]


class JsonLane(Lane, ABC):
    """WSGI middleware for one POST path: a plain request (no query string,
    ``Content-Type: application/json``, a plain body, a bearer token of :attr:`role`)
    answered by :meth:`answer`, everything else by the next app (Flask) untouched.

    A lane says what is plain for it (:meth:`not_plain`, :meth:`max_body`,
    :meth:`plain`) and answers (:meth:`answer`: None passes the request on)."""

    path: str
    role: str

    def __init__(
        self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Any, schema: Any
    ) -> None:
        super().__init__(wsgi_app, flask_app)
        self.schema = schema  # renders the answer, as the Flask view's output schema

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if (
            self.enabled
            and environ.get("PATH_INFO") == self.path
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
            or self.not_plain(environ)
        ):
            return None
        secret = bearer_token(environ)
        body = read_plain_body(environ, self.max_body()) if secret else None
        wanted = self.plain(body) if body else None
        if secret is None or wanted is None:
            return None
        request_id = str(uuid.uuid4())
        try:
            connect = self.app.extensions["qonys.db"].autocommit.connect
            who = verify_once(unknown_tokens(environ), connect, secret)
        except Exception as error:  # the database down: 503, as Flask answers it
            return self.error(environ, start_response, error, request_id)
        if who is None or who.role != self.role:
            return None
        return self.answer(environ, start_response, who, wanted, request_id)

    def not_plain(self, environ: dict[str, Any]) -> bool:
        """Whether a header makes the request Flask's whatever its body."""
        return False

    @abstractmethod
    def max_body(self) -> int:
        """The largest body that may be plain."""

    @abstractmethod
    def plain(self, body: bytes) -> Any | None:
        """What :meth:`answer` is handed of a body that may be plain (what it asks for,
        or the body itself when reading it needs the principal); None when it is not."""

    @abstractmethod
    def answer(
        self,
        environ: dict[str, Any],
        start_response: Any,
        who: Principal,
        wanted: Any,
        request_id: str,
    ) -> Iterable[bytes] | None:
        """The answer to a plain request of a verified principal (:meth:`done`, or
        :meth:`error` once something may have been written); None to pass it on."""
