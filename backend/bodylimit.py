"""A streamed (chunked) request body over the limit is refused with 413, not cut.

Werkzeug enforces ``MAX_CONTENT_LENGTH`` on a body without ``Content-Length`` by ending
the stream at the limit: a view reading it gets the first 16 MiB as if they were all, and
an import would store a truncated file. This middleware reads such a body itself, up to
one byte past the limit: over it, the request is marked and answered 413 (problem+json,
by the app); within it, the body is handed on with its length known.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge

TOO_LARGE = "qonys.body_too_large"
_CHUNK = 64 * 1024


class BodyLimit:
    """WSGI middleware around the Flask app; ``max_bytes`` is the body limit."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            body = _read_at_most(environ["wsgi.input"], self.max_bytes + 1)
            if len(body) > self.max_bytes:
                environ[TOO_LARGE] = True
                body = b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def _read_at_most(stream: Any, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = stream.read(min(_CHUNK, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def refuse_if_too_large(environ: dict[str, Any]) -> None:
    """Raise the 413 for a request the middleware marked (in a ``before_request``)."""
    if environ.get(TOO_LARGE):
        raise RequestEntityTooLarge()
