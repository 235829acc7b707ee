"""Writing to the append-only audit log, in the same transaction as the access itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from backend.models import AuditEntry
from backend.services.access.tokens import Principal


@dataclass(frozen=True)
class Context:
    """Who acts, why, and under which request: what every audit row of a request shares."""

    principal: Principal
    purpose: str | None = None
    request_id: str | None = None
    client_request_id: str | None = None

    def row(self, action: str, subject_person_id: int | None) -> dict[str, Any]:
        """The audit row of ``action`` on one person (None: on nobody in particular)."""
        return {
            "actor": self.principal.actor,
            "role": self.principal.role,
            "action": action,
            "subject_person_id": subject_person_id,
            "purpose": self.purpose,
            "request_id": self.request_id,
            "client_request_id": self.client_request_id,
        }


# One audit row from :meth:`Context.row`'s values, alone or as part of the statement
# that does what it records (a check, a device's batch): both written, or neither.
ROW_INSERT = """
    INSERT INTO audit_log
        (actor, role, action, subject_person_id, purpose, request_id, client_request_id)
    VALUES (:actor, :role, :action, :subject_person_id, :purpose,
            CAST(:request_id AS uuid), :client_request_id)
"""


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
    context = Context(principal, purpose, request_id, client_request_id)
    rows = [context.row(action, pid) for pid in subject_person_ids]
    if rows:
        session.execute(insert(AuditEntry), rows)
