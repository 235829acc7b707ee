"""The field officer's on-the-spot check: one verdict with machine-readable reasons.

Checks are the hottest path in the system, so a check costs two round trips and no
transaction of its own: everything the verdict needs — the region of the check's
location, the person, current registrations and permits — comes back from one SQL
statement (the rules themselves stay here in Python), then the stored check and its
audit row are written by one statement, atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from backend import clock
from backend.db import Prepared
from backend.errors import Conflict, Forbidden, Invalid
from backend.identifiers import document_key, document_number_valid, iin_problem
from backend.models.permit import permit_in_force
from backend.models.registries import PERMIT_CATEGORIES
from backend.services.access import audit
from backend.services.access.scope import places_in_scope

# Reason codes, in the order an officer should act on them.
NO_REGISTRATION = "no_registration"
REGISTRATION_EXPIRED = "registration_expired"
NO_PERMIT = "no_permit"
PERMIT_NOT_YET_VALID = "permit_not_yet_valid"
PERMIT_EXPIRED = "permit_expired"
PERMIT_TERMINATED = "permit_terminated"
PERMIT_REVOKED = "permit_revoked"
OUTSIDE_PERMIT_REGION = "outside_permit_region"
# Warnings: shown beside the verdict, never changing it (rule 8: a registration notified
# after its deadline is recorded, not a present violation).
LATE_REGISTRATION = "late_registration"

# Each part is read on its own and put together at the end: on Citus the person's rows
# are on the person's shard, found by the person's id, and the geography is replicated.
_LOOKUP = """
WITH here AS MATERIALIZED (
    SELECT region_kato FROM region_parts
    WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) LIMIT 1
), held AS MATERIALIZED (
    SELECT id, iin, surname, given_name, birth_date, citizenship, category, merged_into,
           document_number, created_at
    FROM persons WHERE {match}
), p AS MATERIALIZED (
    -- A person merged into another holds the same numbers: one person, not two.
    SELECT id, iin, surname, given_name, birth_date, citizenship, category, merged_into,
           document_number,
           (SELECT count(DISTINCT coalesce(merged_into, id)) FROM held) AS matches
    FROM held ORDER BY merged_into NULLS FIRST, created_at DESC LIMIT 1
), regs AS MATERIALIZED (
    SELECT kind, address, region_kato, settlement_kato, valid_from, valid_to,
           late_registration
    FROM registrations WHERE person_id IN (SELECT id FROM p) AND ended_on IS NULL
), perms AS MATERIALIZED (
    SELECT number, status, region_kato, valid_from, valid_to, employer_bin
    FROM permits WHERE person_id IN (SELECT id FROM p)
)
SELECT (SELECT region_kato FROM here) AS region, p.*,
    (SELECT json_agg(json_build_object(
            'kind', kind, 'address', address, 'region_kato', region_kato,
            'settlement_kato', settlement_kato, 'valid_from', valid_from,
            'valid_to', valid_to, 'late_registration', late_registration)
            ORDER BY valid_from DESC) FROM regs) AS registrations,
    (SELECT json_agg(json_build_object(
            'number', number, 'status', status, 'region_kato', region_kato,
            'valid_from', valid_from, 'valid_to', valid_to,
            'employer_bin', employer_bin) ORDER BY valid_to DESC) FROM perms) AS permits
FROM (SELECT 1) AS one LEFT JOIN p ON true
"""
LOOKUP_BY_IIN = Prepared(_LOOKUP.format(match="iin = :key"))
# By the number as compared (backend.identifiers.document_key): as an officer types it.
LOOKUP_BY_DOCUMENT = Prepared(
    _LOOKUP.format(
        match="document_key = :key"
        " AND (CAST(:country AS varchar) IS NULL OR citizenship = :country)"
    )
)
LOOKUP_BY_ID = Prepared(_LOOKUP.format(match="id = :key"))
IIN_CHECK_DIGIT_WRONG = "the IIN check digit is wrong"
DOCUMENT_NUMBER_NOT_VALID = "the number is not valid for this document type"


# The check and the audit row of reading the person, in one statement.
STORE = Prepared(
    f"""
WITH c AS (
    INSERT INTO officer_checks
        (token_id, person_id, query_kind, verdict, reasons, region_kato, geom, checked_at)
    VALUES (:token_id, :check_person_id, :query_kind, :verdict,
            CAST(:reasons AS varchar[]), :region,
            ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :checked_at)
    RETURNING id
), a AS ({audit.ROW_INSERT})
SELECT id FROM c
"""
)
# What the audit log calls a check.
ACTION = "person.check"
# The person id a check that found nobody is stored with (every check row has a shard).
NOBODY = 0


class AmbiguousDocument(Conflict):
    """A document number that matches more than one person."""

    code = "ambiguous_document"


@dataclass(frozen=True)
class _Registration:
    kind: str
    address: str | None
    region_kato: str
    settlement_kato: str | None
    valid_from: date
    valid_to: date | None
    late_registration: bool = False


@dataclass(frozen=True)
class _Permit:
    number: str
    status: str
    region_kato: str
    valid_from: date
    valid_to: date
    employer_bin: str | None


@dataclass(frozen=True)
class CheckResult:
    """An officer's check as stored and shown: the verdict and what it rests on."""

    check_id: int
    checked_at: datetime
    verdict: str
    reasons: list[str]
    region_kato: str
    person: Mapping[str, Any] | None
    registration: _Registration | None
    permit: _Permit | None
    # Who was checked, for the audit trail, even when the details are withheld.
    person_id: int | None = None
    # The register places the person outside the officer's region: the verdict and its
    # reasons are given, the person's details are that region's officers' to see.
    outside_scope: bool = False
    # The number as the register compared it (normalised): what "not found" was for.
    searched: str | None = None
    warnings: tuple[str, ...] = ()


def _dates(item: dict[str, Any]) -> dict[str, Any]:
    return {
        k: date.fromisoformat(v) if k.startswith("valid_") and v else v for k, v in item.items()
    }


def _parse(value: Any) -> list[dict[str, Any]]:
    items = json.loads(value) if isinstance(value, str) else value
    return [_dates(i) for i in items or []]


def _registration_reasons(registrations: list[_Registration], today: date) -> list[str]:
    if not registrations:
        return [NO_REGISTRATION]
    if all(r.valid_to is not None and r.valid_to < today for r in registrations):
        return [REGISTRATION_EXPIRED]
    return []


def _deciding_permit(permits: list[_Permit], today: date) -> _Permit | None:
    """The permit that decides the verdict: an active one in force, else the latest."""
    for permit in permits:
        if permit_in_force(permit.status, permit.valid_from, permit.valid_to, today):
            return permit
    return permits[0] if permits else None


def _permit_reasons(permit: _Permit | None, check_region: str, today: date) -> list[str]:
    if permit is None:
        return [NO_PERMIT]
    if permit.status == "terminated":
        return [PERMIT_TERMINATED]
    if permit.status == "revoked":
        return [PERMIT_REVOKED]
    if permit.status == "expired" or permit.valid_to < today:
        return [PERMIT_EXPIRED]
    if permit.valid_from > today:
        return [PERMIT_NOT_YET_VALID]
    if permit.region_kato != check_region:
        return [OUTSIDE_PERMIT_REGION]
    return []


def run_check(
    db: Session | Connection,
    who: audit.Context,
    iin: str | None,
    document_number: str | None,
    location: dict[str, float],
    today: date | None = None,
    document_country: str | None = None,
) -> CheckResult:
    """Check a person on the spot; store the check with its place and time and audit it.

    ``db`` may be in autocommit: the lookup only reads, and the writes are one statement.
    """
    principal = who.principal
    today = today or clock.today()
    key = searched_key(iin, document_number, document_country)
    where = {"lon": location["lon"], "lat": location["lat"], "country": document_country}
    lookup = LOOKUP_BY_IIN if iin else LOOKUP_BY_DOCUMENT
    (row,) = lookup.mappings(db, {**where, "key": key})
    if row["merged_into"] is not None and (row["matches"] or 0) <= 1:
        (row,) = LOOKUP_BY_ID.mappings(db, {**where, "key": row["merged_into"]})
    if (row["matches"] or 0) > 1:
        # Two persons hold this number (documents of different countries): never pick one.
        raise AmbiguousDocument(
            f"document number {key} belongs to {row['matches']} persons: "
            "check by IIN, or give the issuing country (document_country)"
        )
    region = row["region"]
    if region is None:
        raise Invalid("location", "is outside Kazakhstan")
    if principal.region_kato and region != principal.region_kato:
        raise Forbidden("this officer token is limited to another region")
    person = registration = permit = None
    reasons: list[str] = []
    warnings: tuple[str, ...] = ()
    outside = False
    if row["id"] is not None:
        person = row
        registrations = [_Registration(**r) for r in _parse(row["registrations"])]
        permits = [_Permit(**p) for p in _parse(row["permits"])]
        outside = not places_in_scope(principal.region_kato, registrations, permits, today)
        reasons = _registration_reasons(registrations, today)
        if row["category"] in PERMIT_CATEGORIES:
            permit = _deciding_permit(permits, today)
            reasons += _permit_reasons(permit, region, today)
            if permit is not None and permit.valid_to < today:
                permit = replace(permit, status="expired")
        registration = registrations[0] if registrations else None
        if any(r.late_registration for r in registrations):
            warnings = (LATE_REGISTRATION,)
    verdict = "not_found" if person is None else "violation" if reasons else "ok"
    checked_at = clock.now()
    ((check_id,),) = STORE.rows(
        db,
        {
            **who.row(ACTION, row["id"]),
            "check_person_id": NOBODY if row["id"] is None else row["id"],
            "token_id": principal.token_id,
            "query_kind": "iin" if iin else "document",
            "verdict": verdict,
            "reasons": reasons,
            "region": region,
            "lon": location["lon"],
            "lat": location["lat"],
            "checked_at": checked_at,
        },
    )
    if outside:
        return CheckResult(
            check_id,
            checked_at,
            verdict,
            reasons,
            region,
            None,
            None,
            None,
            row["id"],
            True,
            key,
            warnings,
        )
    return CheckResult(
        check_id,
        checked_at,
        verdict,
        reasons,
        region,
        person,
        registration,
        permit,
        row["id"],
        searched=key,
        warnings=warnings,
    )


def searched_key(iin: str | None, document_number: str | None, country: str | None) -> str:
    """The IIN or document number as the register compares it; an IIN whose check digit
    is wrong, or a number that no document of its country can carry, is a 422 that says
    so (a mistyped number must never read as "not in the register")."""
    if iin:
        problem = iin_problem(iin)
        if problem:
            message = IIN_CHECK_DIGIT_WRONG if "check digit" in problem else f"the IIN {problem}"
            raise Invalid("iin", message)
        return iin
    key = document_key(document_number) or ""
    if not document_number_valid(key, country):
        raise Invalid("document_number", DOCUMENT_NUMBER_NOT_VALID)
    return key
