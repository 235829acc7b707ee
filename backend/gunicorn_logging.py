"""Gunicorn's logs without secrets.

Phones carry their device token in the URL (OsmAnd's ``id``, ``deviceid``), and scripts
in the Authorization header. This logger class cuts both out of every access-log atom,
whatever the protocol and however percent-encoded (backend/redaction.py), and out of
gunicorn's own messages: a request line it cannot parse ("Invalid request from ip=…:
Invalid HTTP request line: 'GET /…?id=qny_…'") is quoted whole in its error log. A log
file never holds a credential.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger

from backend.redaction import redact

_SECRET_HEADERS = ("{authorization}i", "{cookie}i", "{proxy-authorization}i")


def _redacted(msg: Any, args: tuple[Any, ...]) -> str:
    """A message of gunicorn's, its arguments put in, with any credential cut out."""
    try:
        text = str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        text = " ".join(map(str, (msg, *args)))
    return redact(text)


class _RedactedTracebacks(logging.Filter):
    """A traceback's text (an exception's message may quote the request) redacted too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        return True


_FORMATTER = logging.Formatter()


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        if not any(isinstance(f, _RedactedTracebacks) for f in self.error_log.filters):
            self.error_log.addFilter(_RedactedTracebacks())

    def log(self, lvl: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().log(lvl, _redacted(msg, args), **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().critical(_redacted(msg, args), **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().error(_redacted(msg, args), **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().warning(_redacted(msg, args), **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().info(_redacted(msg, args), **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().debug(_redacted(msg, args), **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().exception(_redacted(msg, args), **kwargs)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in _SECRET_HEADERS:
            if key in atoms:
                atoms[key] = "***"
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
