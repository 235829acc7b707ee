"""Writing to the append-only audit log, in the same transaction as the access itself."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import insert
from sqlalchemy.orm import Session

from backend.models import AuditEntry
from backend.services.tokens import Principal


def record(
    session: Session,
    principal: Principal,
    action: str,
    subject_person_ids: Iterable[int | None] = (None,),
    purpose: str | None = None,
    request_id: str | None = None,
    client_request_id: str | None = None,
) -> None:
    """Append one audit row per subject person, in one statement."""
    rows = [
        {
            "actor": principal.actor,
            "role": principal.role,
            "action": action,
            "subject_person_id": pid,
            "purpose": purpose,
            "request_id": request_id,
            "client_request_id": client_request_id,
        }
        for pid in subject_person_ids
    ]
    if rows:
        session.execute(insert(AuditEntry), rows)
