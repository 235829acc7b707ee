"""Checks an officer made without a connection, synced from the phone's outbox.

Each item carries its own key: the first sync runs the check (the same
:func:`backend.services.register.checks.run_check` as online) and stores the phone's time and
offline verdict beside the server's; a repeated sync of the key answers the stored check
and runs nothing. The key is scoped to the caller (account or token), and a transaction
lock on it makes two concurrent syncs of one item wait for each other.

A typed item is checked by its IIN or document number; a QR item by the holder of the
signed document (the permit's number, or registration ``R<id>``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.identifiers import ascii_digits
from backend.services.access import audit
from backend.services.register import checks

LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 25))")
FIND = text(
    "SELECT id, verdict, reasons, offline_verdict, device_checked_at, checked_at"
    " FROM officer_checks WHERE client_key = :key"
)
MARK = text(
    "UPDATE officer_checks SET device_checked_at = :device, offline_verdict = :offline,"
    " client_key = :key WHERE id = :id AND person_id = :person"
)
HOLDER = {
    "permit": text(
        "SELECT p.iin FROM permits d JOIN persons p ON p.id = d.person_id WHERE d.number = :no"
    ),
    "registration": text(
        "SELECT p.iin FROM registrations d JOIN persons p ON p.id = d.person_id WHERE d.id = :id"
    ),
}


def split_who(typed: str) -> tuple[str | None, str | None]:
    """(IIN, document number): twelve digits are an IIN, anything else a document."""
    key = typed.strip()
    return (key, None) if ascii_digits(key) and len(key) == 12 else (None, key)


@dataclass(frozen=True)
class Synced:
    key: str
    check_id: int
    verdict: str
    reasons: list[str]
    offline_verdict: str | None
    device_time: datetime | None
    server_time: datetime
    duplicate: bool


def _holder_iin(db: Session, doc_kind: str, number: str) -> str | None:
    if doc_kind == "registration":
        if not (number.startswith("R") and ascii_digits(number[1:])):
            return None
        iin: str | None = db.execute(HOLDER[doc_kind], {"id": int(number[1:])}).scalar()
        return iin
    found: str | None = db.execute(HOLDER[doc_kind], {"no": number}).scalar()
    return found


def sync(db: Session, who: audit.Context, item: dict[str, Any]) -> Synced:
    """Run one outbox item's check once; a repeat answers the first run."""
    owner = who.principal.user_id
    scoped = f"u{owner}:{item['key']}" if owner else f"t{who.principal.token_id}:{item['key']}"
    db.execute(LOCK, {"key": scoped})
    first = db.execute(FIND, {"key": scoped}).first()
    if first is not None:
        return Synced(
            item["key"],
            first.id,
            first.verdict,
            list(first.reasons),
            first.offline_verdict,
            first.device_checked_at,
            first.checked_at,
            True,
        )
    if item["kind"] == "qr":
        iin = _holder_iin(db, item["doc_kind"], item["who"].strip())
        document = None if iin else item["who"].strip()
    else:
        iin, document = split_who(item["who"])
    result = checks.run_check(
        db,
        replace(who, client_request_id=f"outbox:{item['key']}"[:100]),
        iin,
        document,
        {"lat": item["lat"], "lon": item["lon"]},
    )
    db.execute(
        MARK,
        {
            "device": item["device_time"],
            "offline": item.get("offline_verdict"),
            "key": scoped,
            "id": result.check_id,
            "person": result.person_id or checks.NOBODY,
        },
    )
    return Synced(
        item["key"],
        result.check_id,
        result.verdict,
        result.reasons,
        item.get("offline_verdict"),
        item["device_time"],
        result.checked_at,
        False,
    )
