"""Persons and registrations."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from backend import schemas as s
from backend.api.context import auth, principal, purpose, record_access, settings, transaction
from backend.api.idempotent import idempotent
from backend.api.limits import listing_over_cap
from backend.errors import TooMany
from backend.services import events
from backend.services.register import persons

bp = APIBlueprint("persons", __name__, url_prefix="/api/v1", tag="Registry")


@bp.post("/persons")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.PersonIn, arg_name="data")
@bp.output(s.PersonOut, status_code=201)
@bp.doc(summary="Register a person (an IIN is generated for a foreigner without one)")
def create_person(data: dict[str, Any]) -> Any:
    with transaction() as session:
        person = events.register_person(session, data)
        record_access(session, "person.create", [person.id])
        card = persons.get_person(session, person.id)
        card.duplicate_candidates = person.duplicate_candidates
        return card


@bp.get("/persons/<id:person_id>")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.output(s.PersonOut)
@bp.doc(summary="One person with current registrations and permits; analysts send X-Purpose")
def get_person(person_id: int) -> Any:
    why = purpose()
    with transaction() as session:
        person = persons.get_person(session, person_id)
        record_access(session, "person.read", [person.id], why)
        return person


@bp.get("/persons")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.input(s.PersonQuery, location="query", arg_name="query")
@bp.output(s.PersonPage)
@bp.doc(
    summary="Find persons by IIN, or page through the register",
    description="Keyset-paged. The persons one caller reads under one purpose are capped "
    "per day (`QONYS_PERSON_LISTING_CAP`, 1000/day): beyond it 429 with Retry-After. Every "
    "page is audited, a row per person, with the purpose (action `person.search` for an "
    "IIN, `person.list` for a page of the register; a search finding nobody, one row "
    "without a subject).",
)
def list_persons(query: dict[str, Any]) -> Any:
    why = purpose()
    who = principal()
    with transaction() as session:
        found, cursor = persons.list_persons(
            session, query.get("iin"), query["limit"], query.get("cursor")
        )
        wait = listing_over_cap(who.actor, why, len(found))
        if wait is not None:
            raise TooMany(
                f"the cap of persons read under purpose {why!r} is reached "
                f"({settings().person_listing_cap}); state the case this read is for",
                wait,
            )
        # The filter is in the action: a search by IIN, or a page of the register.
        action = "person.search" if query.get("iin") else "person.list"
        record_access(session, action, [p.id for p in found] or [None], why)
        return {"items": found, "next_cursor": cursor}


@bp.post("/registrations")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.RegistrationIn, arg_name="data")
@bp.output(s.RegistrationOut, status_code=201)
@bp.doc(summary="Register a person at a place of stay; closes the current one of the same kind")
def create_registration(data: dict[str, Any]) -> Any:
    with transaction() as session:
        registration = events.record_registration(session, data)
        record_access(session, "registration.create", [registration.person_id])
        return registration
