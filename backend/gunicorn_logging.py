"""Gunicorn's logs without secrets.

Phones carry their device token in the URL (OsmAnd's ``id``, ``deviceid``), and scripts
in the Authorization header. This logger class cuts both out of every access-log atom,
whatever the protocol and however percent-encoded (backend/redaction.py), and out of
every record of gunicorn's own log (a filter on it): a request line it cannot parse
("Invalid request from ip=…: Invalid HTTP request line: 'GET /…?id=qny_…'") is quoted
whole there. A log file never holds a credential.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger

from backend.redaction import redact

_SECRET_HEADERS = ("{authorization}i", "{cookie}i", "{proxy-authorization}i")


class _Redacted(logging.Filter):
    """Every record of gunicorn's error log, whatever its level or how it was logged:
    its message, arguments put in, and its traceback's text (an exception's message may
    quote the request) with any credential cut out."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        return True


_FORMATTER = logging.Formatter()


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        if not any(isinstance(f, _Redacted) for f in self.error_log.filters):
            self.error_log.addFilter(_Redacted())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in _SECRET_HEADERS:
            if key in atoms:
                atoms[key] = "***"
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
