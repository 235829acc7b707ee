"""Employers, labour-immigrant permits ("patents"), extensions and early termination."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.orm import Session, joinedload

from backend import clock
from backend.clock import add_months
from backend.db import locked_by_person
from backend.errors import Conflict, Invalid, NotFound
from backend.identifiers import bin_problem, iin_problem
from backend.models import Employer, Permit, PermitExtension, Person, Region, TerminationNotice
from backend.models.registries import PERMIT_CATEGORIES
from backend.services import policy
from backend.services.pagination import decode_cursor, next_cursor


def check_validity(session: Session, start: date, end: date, field: str = "valid_to") -> None:
    """A permit period runs between the bounds in force on its first day (rule 9, 1-12
    months): ``end`` is its last valid day."""
    low = policy.integer(session, "permit_min_months", start)
    high = policy.integer(session, "permit_max_months", start)
    if end < add_months(start, low) - timedelta(days=1):
        raise Invalid(field, f"validity must be at least {low} month(s)")
    if end > add_months(start, high) - timedelta(days=1):
        raise Invalid(field, f"validity must be at most {high} months")


def create_employer(
    session: Session, bin_: str, name: str, is_demo: bool = False, kind: str = "firm"
) -> Employer:
    """A firm by its BIN, or a household — a private person — by their IIN (rule 9)."""
    problem = bin_problem(bin_) if kind == "firm" else iin_problem(bin_)
    if problem:
        raise Invalid("bin" if kind == "firm" else "iin", problem)
    if session.get(Employer, bin_) is not None:
        raise Conflict(f"employer {bin_} already exists")
    employer = Employer(bin=bin_, name=name.strip(), is_demo=is_demo, kind=kind)
    session.add(employer)
    session.flush()
    return employer


def create_permit(session: Session, data: dict[str, Any], source_key: str | None = None) -> Permit:
    """Issue a permit in a region, for a labour immigrant or foreign worker."""
    person = session.get(Person, data["person_id"])
    if person is None:
        raise Invalid("person_id", f"person {data['person_id']} does not exist")
    if person.category not in PERMIT_CATEGORIES:
        raise Invalid("person_id", f"a {person.category} does not hold a labour permit")
    employer_bin = data.get("employer_bin")
    if employer_bin and session.get(Employer, employer_bin) is None:
        raise Invalid("employer_bin", f"employer {employer_bin} is not registered")
    if not session.scalar(select(exists().where(Region.kato == data["region_kato"]))):
        raise Invalid("region_kato", f"unknown region {data['region_kato']}")
    if data["valid_to"] < data["valid_from"]:
        raise Invalid("valid_to", "must not be before valid_from")
    check_validity(session, data["valid_from"], data["valid_to"])
    seq = session.execute(text("SELECT nextval('permit_number_seq')")).scalar_one()
    permit = Permit(
        number=f"KZ{data['region_kato'][:2]}-{data['valid_from'].year}-{seq:07d}",
        person_id=person.id,
        employer_bin=employer_bin,
        region_kato=data["region_kato"],
        valid_from=data["valid_from"],
        valid_to=data["valid_to"],
        status="active" if data["valid_to"] >= clock.today() else "expired",
        source_key=source_key,
    )
    session.add(permit)
    session.flush()
    return permit


def find_permit(session: Session, permit_id: int, lock: bool = False) -> Permit | None:
    """The permit, locked when asked (by holder and id: see ``db.locked_by_person``)."""
    if lock:
        return locked_by_person(session, Permit, permit_id)
    return session.get(Permit, permit_id)


def get_permit(session: Session, permit_id: int, lock: bool = False) -> Permit:
    permit = find_permit(session, permit_id, lock)
    if permit is None:
        raise NotFound(f"permit {permit_id} not found")
    return permit


def extend_permit(session: Session, permit_id: int, new_valid_to: date) -> Permit:
    """Extend an active permit by 1-12 months (configurable) from its current end."""
    permit = get_permit(session, permit_id, lock=True)
    if permit.status != "active" or permit.valid_to < clock.today():
        raise Conflict(f"permit {permit.number} is {permit.status}; only an active one is extended")
    if new_valid_to <= permit.valid_to:
        raise Invalid("valid_to", f"must be after the current end {permit.valid_to}")
    check_validity(session, permit.valid_to + timedelta(days=1), new_valid_to)
    session.add(
        PermitExtension(
            permit_id=permit.id,
            person_id=permit.person_id,
            previous_valid_to=permit.valid_to,
            new_valid_to=new_valid_to,
        )
    )
    permit.valid_to = new_valid_to
    session.flush()
    return permit


def name_household_employer(session: Session, permit_id: int, iin: str) -> Permit:
    """Record the household — a private person, by IIN — that employs the holder of a
    permit issued without an employer (rule 9), so that it may file the notice of early
    termination (rule 10) for the permit it now holds. A permit that names an employer
    keeps it."""
    permit = get_permit(session, permit_id, lock=True)
    if permit.employer_bin is not None:
        raise Conflict(f"permit {permit.number} already names employer {permit.employer_bin}")
    if permit.status in ("terminated", "revoked"):
        raise Conflict(f"permit {permit.number} is {permit.status}")
    employer = session.get(Employer, iin)
    if employer is None:
        raise Invalid("iin", f"no household employer {iin} is registered")
    if employer.kind != "household":
        raise Invalid("iin", f"{iin} is a firm's BIN: a firm is named when the permit is issued")
    permit.employer_bin = employer.bin
    session.flush()
    return permit


def revoke_permit(session: Session, permit_id: int) -> Permit:
    permit = get_permit(session, permit_id, lock=True)
    if permit.status in ("revoked", "terminated"):
        raise Conflict(f"permit {permit.number} is already {permit.status}")
    permit.status = "revoked"
    permit.status_changed_at = clock.now()
    session.flush()
    return permit


def expire_permits(session: Session, today: date | None = None) -> list[int]:
    """Mark active permits whose validity has passed as expired (set-based); their ids."""
    today = today or clock.today()
    return list(
        session.scalars(
            update(Permit)
            .where(Permit.status == "active", Permit.valid_to < today)
            .values(status="expired", status_changed_at=func.now())
            .returning(Permit.id)
        )
    )


def employer_permits(
    session: Session, bin_: str, limit: int, cursor: str | None
) -> tuple[list[Permit], str | None]:
    """A page of the employer's permits, each with its holder loaded."""
    if session.get(Employer, bin_) is None:
        raise NotFound(f"employer {bin_} not found")
    found = list(
        session.scalars(
            select(Permit)
            .options(joinedload(Permit.holder))
            .where(Permit.employer_bin == bin_, Permit.id > decode_cursor(cursor))
            .order_by(Permit.id)
            .limit(limit)
        )
    )
    return found, next_cursor([p.id for p in found], limit)


def file_termination_notice(
    session: Session,
    employer_bin: str,
    data: dict[str, Any],
    today: date | None = None,
) -> tuple[TerminationNotice, Permit]:
    """An employer's notice of early termination: ends the permit, flags a late notice.

    Another employer's permit is reported as not found, never as forbidden.
    """
    today = today or clock.today()
    permit = find_permit(session, data["permit_id"], lock=True)
    if permit is None or permit.employer_bin != employer_bin:
        raise NotFound(f"permit {data['permit_id']} not found")
    if permit.status in ("terminated", "revoked"):
        raise Conflict(f"permit {permit.number} is already {permit.status}")
    last_day: date = data["last_working_day"]
    if last_day > today:
        raise Invalid("last_working_day", "cannot be in the future")
    if last_day < permit.valid_from:
        raise Invalid("last_working_day", f"is before the permit started ({permit.valid_from})")
    if last_day > permit.valid_to:
        raise Invalid("last_working_day", f"is after the permit ended ({permit.valid_to})")
    # The deadline in force on the last working day (rule 10, an assumption).
    deadline = last_day + timedelta(
        days=policy.integer(session, "termination_notice_days", last_day)
    )
    notice = TerminationNotice(
        permit=permit,
        person_id=permit.person_id,
        employer_bin=employer_bin,
        last_working_day=last_day,
        reason=data["reason"].strip(),
        late=today > deadline,
        deadline=deadline,
    )
    session.add(notice)
    permit.status = "terminated"
    permit.status_changed_at = clock.now()
    session.flush()
    return notice, permit
