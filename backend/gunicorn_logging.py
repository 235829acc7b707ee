"""Gunicorn's access log without secrets.

Phones carry their device token in the URL (OsmAnd's ``id``, ``deviceid``), and scripts
in the Authorization header. This logger class cuts both out of every access-log atom,
whatever the protocol and however percent-encoded (backend/redaction.py), so a log
file never holds a credential.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from backend.redaction import redact

_SECRET_HEADERS = ("{authorization}i", "{cookie}i", "{proxy-authorization}i")


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in _SECRET_HEADERS:
            if key in atoms:
                atoms[key] = "***"
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
