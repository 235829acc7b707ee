"""Idempotent writes: the same ``Idempotency-Key`` and body replays the first response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from backend.db import Database
from backend.errors import Invalid
from backend.models import IdempotentResponse

Response = tuple[dict[str, Any], int]


def request_hash(method: str, path: str, body: bytes) -> str:
    """The request's fingerprint: a JSON body by its parsed value (whitespace and key
    order do not make another request), any other body by its bytes."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def run_once(
    database: Database,
    caller: str,
    route: str,
    key: str,
    fingerprint: str,
    write: Callable[[], Response],
) -> Response:
    """Run ``write`` at most once per (caller, route, key).

    ``caller`` is who asks (``user:<id>`` for a browser session, ``token:<id>``): another
    caller sending the same key gets nothing of the first; ``route`` the endpoint.
    A session-level advisory lock serializes concurrent requests carrying the same key,
    so a retry that races the original waits for it and then replays its response.
    Only successful (2xx) responses are kept; a failed write may be retried.
    """
    if not key or len(key) > 200:
        raise Invalid("Idempotency-Key", "must be 1-200 characters")
    lock_id = int.from_bytes(
        hashlib.sha256(f"{caller}\n{route}\n{key}".encode()).digest()[:8], "big", signed=True
    )
    # In autocommit: a session lock needs no transaction, and one left idle while the
    # write runs would be ended by the API's idle-in-transaction bound (backend/db.py),
    # the lock with it. A retry waits for the original 5 s at most (503 busy after).
    with database.autocommit.connect() as lock_conn:
        lock_conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
        try:
            with database.transaction() as session:
                stored = session.scalars(
                    select(IdempotentResponse).where(
                        IdempotentResponse.caller == caller,
                        IdempotentResponse.route == route,
                        IdempotentResponse.key == key,
                    )
                ).first()
                if stored is not None:
                    if stored.request_hash != fingerprint:
                        raise Invalid(
                            "Idempotency-Key", "was already used with a different request body"
                        )
                    return stored.body, stored.status
            body, status = write()
            if 200 <= status < 300:
                with database.transaction() as session:
                    session.execute(
                        insert(IdempotentResponse)
                        .values(
                            caller=caller,
                            route=route,
                            key=key,
                            request_hash=fingerprint,
                            status=status,
                            body=body,
                        )
                        .on_conflict_do_nothing()
                    )
            return body, status
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
