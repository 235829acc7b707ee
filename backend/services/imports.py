"""Bulk import of persons, registrations and permits from CSV, validated row by row.

Each row is validated by the same schema and written by the same service as its API
endpoint, inside a savepoint: a rejected row leaves nothing behind, and the report names
the row, the field and the reason. Every accepted row carries a ``source_key`` (a hash of
its normalized content), so importing the same file again adds nothing twice. Cells a
spreadsheet would run as a formula (``=HYPERLINK(…)``) are listed in ``formula_cells``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from backend.csvsafe import formula_like
from backend.errors import Invalid, QonysError, flatten_messages
from backend.identifiers import iin_typed
from backend.models import ImportFile, Permit, Person, Registration
from backend.schemas import PermitIn, PersonIn, RegistrationIn
from backend.services import events
from backend.services.access import audit
from backend.services.access.tokens import Principal
from backend.services.identity.matching import Candidate
from backend.services.register import register_keys
from backend.settings import Settings

KINDS = ("persons", "registrations", "permits")
COLUMNS = {
    "persons": (
        "iin",
        "surname",
        "given_name",
        "birth_date",
        "sex",
        "citizenship",
        "category",
        "document_type",
        "document_number",
    ),
    "registrations": (
        "person_iin",
        "kind",
        "address",
        "lat",
        "lon",
        "settlement_kato",
        "valid_from",
        "valid_to",
    ),
    "permits": ("person_iin", "employer_bin", "region_kato", "valid_from", "valid_to"),
}
REQUIRED = {
    "persons": {"surname", "given_name", "birth_date", "sex", "citizenship", "category"},
    "registrations": {"person_iin", "kind", "valid_from"},
    "permits": {"person_iin", "region_kato", "valid_from", "valid_to"},
}
MAX_LISTED_REJECTIONS = 1000
# What a row's writer returns: the person it concerns, and a new person's likely
# duplicates in the register.
Written = tuple[int, list[Candidate]]
COMMIT_EVERY = 500


def store_upload(session: Session, kind: str, content: bytes, token_id: int) -> str:
    """Keep the uploaded file; check its header now so a wrong file fails at once."""
    if kind not in KINDS:
        raise Invalid("kind", f"must be one of {', '.join(KINDS)}")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("file", "must be UTF-8 text") from exc
    header = next(csv.reader(io.StringIO(text)), [])
    missing = REQUIRED[kind] - {h.strip() for h in header}
    if missing:
        raise Invalid("file", f"CSV header lacks column(s): {', '.join(sorted(missing))}")
    upload = ImportFile(
        id=str(uuid.uuid4()),
        kind=kind,
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
        token_id=token_id,
    )
    session.add(upload)
    session.flush()
    return upload.id


def _row_key(kind: str, row: dict[str, str]) -> str:
    canonical = "\x1f".join(f"{c}={row.get(c, '').strip()}" for c in COLUMNS[kind])
    return hashlib.sha256(f"{kind}\x1e{canonical}".encode()).hexdigest()


def _clean(row: dict[str, str | None]) -> dict[str, str]:
    return {k.strip(): (v or "").strip() for k, v in row.items() if k}


def _person_id(session: Session, iin: str) -> int:
    iin = iin_typed(iin)
    pid = session.scalar(select(Person.id).where(Person.iin == iin))
    if pid is None:
        raise Invalid("person_iin", f"no person with IIN {iin}")
    return pid


def _load(schema: Schema, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(payload)
    except ValidationError as exc:
        first = flatten_messages(exc.messages)[0]
        raise Invalid(first.field, first.message) from exc
    return loaded


def _import_person(session: Session, row: dict[str, str], key: str, _: Settings) -> Written:
    payload: dict[str, Any] = {k: row[k] for k in REQUIRED["persons"] if row.get(k)}
    if row.get("iin"):
        payload["iin"] = row["iin"]
    if row.get("document_number"):
        payload["document"] = {
            "type": row.get("document_type") or "passport",
            "number": row["document_number"],
        }
    data = _load(PersonIn(), payload)
    if data.get("iin") and session.scalar(select(exists().where(Person.iin == data["iin"]))):
        raise _Duplicate
    person = events.register_person(session, data)
    person.source_key = key
    register_keys.claim(
        session, register_keys.source_key(key), person.id, "this row is being imported already"
    )
    return person.id, person.duplicate_candidates


def _import_registration(session: Session, row: dict[str, str], key: str, _: Settings) -> Written:
    payload: dict[str, Any] = {
        k: row[k]
        for k in ("kind", "address", "settlement_kato", "valid_from", "valid_to")
        if row.get(k)
    }
    if row.get("lat") or row.get("lon"):
        payload["location"] = {"lat": row.get("lat") or None, "lon": row.get("lon") or None}
    payload["person_id"] = _person_id(session, row["person_iin"])
    registration = events.record_registration(
        session, _load(RegistrationIn(), payload), source_key=key
    )
    return registration.person_id, []


def _import_permit(session: Session, row: dict[str, str], key: str, settings: Settings) -> Written:
    payload: dict[str, Any] = {
        k: row[k] for k in ("employer_bin", "region_kato", "valid_from", "valid_to") if row.get(k)
    }
    payload["person_id"] = _person_id(session, row["person_iin"])
    events.issue_permit(session, _load(PermitIn(), payload), source_key=key)
    return int(payload["person_id"]), []


class _Duplicate(Exception):
    """The row is already in the register."""


WRITERS: dict[str, Callable[[Session, dict[str, str], str, Settings], Written]] = {
    "persons": _import_person,
    "registrations": _import_registration,
    "permits": _import_permit,
}
KEYED: dict[str, type[Person] | type[Registration] | type[Permit]] = {
    "persons": Person,
    "registrations": Registration,
    "permits": Permit,
}


def run_import(
    session: Session,
    upload_id: str,
    settings: Settings,
    progress: Callable[[int], None] = lambda _: None,
) -> dict[str, Any]:
    """Import every row of an uploaded file; returns the accepted/rejected report."""
    upload = session.get(ImportFile, upload_id)
    if upload is None:
        raise Invalid("upload", f"import file {upload_id} not found")
    kind = upload.kind
    rows = list(csv.DictReader(io.StringIO(upload.content.decode("utf-8-sig"))))
    model = KEYED[kind]
    report: dict[str, Any] = {"kind": kind, "total": len(rows), "accepted": 0, "duplicates": 0}
    # Rows written as new persons who are likely already in the register (issue 22).
    likely: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    rejected_count = 0
    # Each row written is audited under the uploader's token, with the person it
    # concerns, in the transaction that writes it.
    uploader = Principal(token_id=upload.token_id, role="admin")
    written: list[int] = []
    flagged: list[dict[str, Any]] = []
    for index, raw in enumerate(rows, start=2):  # row 1 is the header
        row = _clean(raw)
        flagged.extend(_formula_cells(index, row, len(flagged)))
        key = _row_key(kind, row)
        if session.scalar(select(exists().where(model.source_key == key))):
            report["duplicates"] += 1
            continue
        try:
            missing = sorted(c for c in REQUIRED[kind] if not row.get(c))
            if missing:
                raise Invalid(missing[0], "is required")
            with session.begin_nested():
                person_id, candidates = WRITERS[kind](session, row, key, settings)
            written.append(person_id)
            report["accepted"] += 1
            if candidates:
                likely.append(
                    {
                        "row": index,
                        "person_id": person_id,
                        "candidates": [
                            {"person_id": c.person_id, "score": c.score, "reasons": c.reasons}
                            for c in candidates
                        ],
                    }
                )
        except _Duplicate:
            report["duplicates"] += 1
        except QonysError as exc:
            rejected_count += 1
            if len(rejected) < MAX_LISTED_REJECTIONS:
                field = exc.errors[0].field if exc.errors else "row"
                message = exc.errors[0].message if exc.errors else exc.detail
                rejected.append({"row": index, "field": field, "reason": message})
        if index % COMMIT_EVERY == 0:
            audit.record(session, uploader, f"import.{kind}", written, f"import {upload_id}")
            written = []
            session.commit()
            progress(int(100 * (index - 1) / max(len(rows), 1)))
    audit.record(session, uploader, f"import.{kind}", written, f"import {upload_id}")
    report["rejected_count"] = rejected_count
    report["rejected"] = rejected
    report["formula_cells"] = flagged
    if kind == "persons":
        report["likely_duplicates"] = likely[:MAX_LISTED_REJECTIONS]
    return report


def _formula_cells(index: int, row: dict[str, Any], listed: int) -> list[dict[str, Any]]:
    """Cells a spreadsheet would run as a formula: kept as typed, flagged for a human
    (and neutralised by any export, backend/csvsafe.py)."""
    if listed >= MAX_LISTED_REJECTIONS:
        return []
    return [
        {
            "row": index,
            "field": field,
            "reason": f"begins with {value[:1]!r}: a spreadsheet formula",
        }
        for field, value in row.items()
        if formula_like(value)
    ]
