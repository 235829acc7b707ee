"""The field officer's on-the-spot check: one verdict with machine-readable reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Forbidden, Invalid
from backend.models import OfficerCheck, Permit, Person, Registration
from backend.models.person import PERMIT_CATEGORIES
from backend.services.tokens import Principal
from gis.convert import point_element
from gis.locate import region_at

# Reason codes, in the order an officer should act on them.
NO_REGISTRATION = "no_registration"
REGISTRATION_EXPIRED = "registration_expired"
NO_PERMIT = "no_permit"
PERMIT_NOT_YET_VALID = "permit_not_yet_valid"
PERMIT_EXPIRED = "permit_expired"
PERMIT_TERMINATED = "permit_terminated"
PERMIT_REVOKED = "permit_revoked"
OUTSIDE_PERMIT_REGION = "outside_permit_region"


def _find_person(session: Session, iin: str | None, document_number: str | None) -> Person | None:
    if iin:
        return session.scalars(select(Person).where(Person.iin == iin)).first()
    return session.scalars(
        select(Person)
        .where(Person.document_number == document_number)
        .order_by(Person.created_at.desc())
    ).first()


def _registration_reasons(registrations: list[Registration], today: date) -> list[str]:
    if not registrations:
        return [NO_REGISTRATION]
    if all(r.valid_to is not None and r.valid_to < today for r in registrations):
        return [REGISTRATION_EXPIRED]
    return []


def _permit_reasons(permit: Permit | None, check_region: str, today: date) -> list[str]:
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


def _current_permit(session: Session, person_id: int, today: date) -> Permit | None:
    """The permit that decides the verdict: an active one in force, else the latest."""
    permits = session.scalars(
        select(Permit).where(Permit.person_id == person_id).order_by(Permit.valid_to.desc())
    ).all()
    for permit in permits:
        if permit.status == "active" and permit.valid_from <= today <= permit.valid_to:
            return permit
    return permits[0] if permits else None


def run_check(
    session: Session,
    principal: Principal,
    iin: str | None,
    document_number: str | None,
    location: dict[str, float],
    today: date | None = None,
) -> dict[str, Any]:
    """Check a person on the spot and store the check with its place and time."""
    today = today or date.today()
    region = region_at(session, location["lon"], location["lat"])
    if region is None:
        raise Invalid("location", "is outside Kazakhstan")
    if principal.region_kato and region != principal.region_kato:
        raise Forbidden("this officer token is limited to another region")
    person = _find_person(session, iin, document_number)
    result: dict[str, Any] = {
        "verdict": "not_found",
        "reasons": [],
        "region_kato": region,
        "person": None,
        "registration": None,
        "permit": None,
    }
    if person is not None:
        registrations = list(
            session.scalars(
                select(Registration)
                .where(Registration.person_id == person.id, Registration.ended_on.is_(None))
                .order_by(Registration.valid_from.desc())
            )
        )
        reasons = _registration_reasons(registrations, today)
        permit = None
        if person.category in PERMIT_CATEGORIES:
            permit = _current_permit(session, person.id, today)
            reasons += _permit_reasons(permit, region, today)
        shown = registrations[0] if registrations else None
        result.update(
            verdict="violation" if reasons else "ok",
            reasons=reasons,
            person={
                "id": person.id,
                "iin": person.iin,
                "surname": person.surname,
                "given_name": person.given_name,
                "birth_date": person.birth_date,
                "citizenship": person.citizenship,
                "category": person.category,
            },
            registration=shown
            and {
                "kind": shown.kind,
                "address": shown.address,
                "region_kato": shown.region_kato,
                "settlement_kato": shown.settlement_kato,
                "valid_to": shown.valid_to,
            },
            permit=permit
            and {
                "number": permit.number,
                "status": "expired" if permit.valid_to < today else permit.status,
                "region_kato": permit.region_kato,
                "valid_to": permit.valid_to,
                "employer_bin": permit.employer_bin,
            },
        )
    check = OfficerCheck(
        token_id=principal.token_id,
        person_id=person.id if person else None,
        query_kind="iin" if iin else "document",
        verdict=result["verdict"],
        reasons=result["reasons"],
        region_kato=region,
        geom=point_element(location["lon"], location["lat"]),
        checked_at=datetime.now(UTC),
    )
    session.add(check)
    session.flush()
    result["check_id"] = check.id
    result["checked_at"] = check.checked_at
    return result
