"""Persons: IIN validation and allocation, creation and the person card."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import exists, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from backend import clock
from backend.errors import Conflict, Invalid, NotFound
from backend.identifiers import (
    GENERATED_SERIALS,
    ascii_digits,
    century_sex_digit,
    document_key,
    iin_birth_date,
    iin_problem,
    iin_sex,
    iin_typed,
    make_iin,
)
from backend.models import Person
from backend.services.identity import duplicates
from backend.services.identity.mrz_intake import read_mrz
from backend.services.identity.names import has_cyrillic, name_key
from backend.services.pagination import decode_cursor, next_cursor
from backend.services.register import register_keys

CITIZEN_COUNTRY = "KAZ"


def allocate_iin(session: Session, birth_date: date, sex: str) -> str:
    """Allocate an unused IIN for a foreigner (action 18).

    The serial counter row is incremented with an upsert, so concurrent requests for the
    same birth date serialize on that row and never receive the same serial. Serials
    whose check digit would be 10, or that collide with an existing IIN, are skipped.
    """
    try:
        digit = century_sex_digit(birth_date, sex)
    except ValueError as exc:
        raise Invalid("birth_date", str(exc)) from exc
    while True:
        counter = session.execute(
            text(
                """
                INSERT INTO iin_serials (birth_date, century_sex, next_serial)
                VALUES (:bd, :cs, 1)
                ON CONFLICT (birth_date, century_sex)
                DO UPDATE SET next_serial = iin_serials.next_serial + 1
                RETURNING next_serial
                """
            ),
            {"bd": birth_date, "cs": digit},
        ).scalar_one()
        serial = GENERATED_SERIALS.start + counter - 1
        if serial not in GENERATED_SERIALS:
            raise Conflict(f"no IIN serials left for birth date {birth_date.isoformat()}")
        iin = make_iin(birth_date, sex, serial)
        if iin and not session.scalar(select(exists().where(Person.iin == iin))):
            return iin


def validate_iin(iin: str, birth_date: date, sex: str) -> None:
    problem = iin_problem(iin)
    if problem:
        raise Invalid("iin", problem)
    if iin_birth_date(iin) != birth_date:
        raise Invalid("iin", f"encodes birth date {iin_birth_date(iin)}, not {birth_date}")
    if iin_sex(iin) != sex:
        raise Invalid("iin", f"encodes sex {iin_sex(iin)}, not {sex}")


def with_mrz(data: dict[str, Any]) -> dict[str, Any]:
    """The person body with what its ``mrz`` says filled in where the body is silent."""
    if not data.get("mrz"):
        return data
    read = read_mrz(data["mrz"])
    filled = dict(data)
    for name in ("surname_latin", "given_name_latin", "birth_date", "sex", "citizenship"):
        if not filled.get(name) and read.get(name):
            filled[name] = read[name]
    if not filled.get("document"):
        filled["document"] = read["document"]
    if not filled.get("iin") and read["iin"] and read["citizenship"] == CITIZEN_COUNTRY:
        filled["iin"] = read["iin"]
    return filled


def with_names(data: dict[str, Any]) -> dict[str, Any]:
    """The names in both fields: ``surname``/``given_name`` from a script's when absent,
    and each script's from ``surname``/``given_name`` when written in it."""
    filled = dict(data)
    for part in ("surname", "given_name"):
        typed = (filled.get(part) or "").strip()
        script = "cyrillic" if has_cyrillic(typed) else "latin"
        if typed and not filled.get(f"{part}_{script}"):
            filled[f"{part}_{script}"] = typed
        if not typed:
            typed = filled.get(f"{part}_cyrillic") or filled.get(f"{part}_latin") or ""
            if not typed.strip():
                raise Invalid(part, "is required (or its Cyrillic or Latin spelling, or mrz)")
            filled[part] = typed.strip()
    for name in ("birth_date", "sex", "citizenship", "category"):
        if not filled.get(name):
            raise Invalid(name, "is required")
    return filled


def create_person(session: Session, data: dict[str, Any], is_demo: bool = False) -> Person:
    """Register a person; a foreigner without an IIN gets one allocated."""
    data = with_names(with_mrz(data))
    birth_date: date = data["birth_date"]
    if birth_date > clock.today():
        raise Invalid("birth_date", "is in the future")
    if birth_date.year < 1900:
        raise Invalid("birth_date", "is before 1900")
    iin = data.get("iin")
    generated = False
    if iin:
        validate_iin(iin, birth_date, data["sex"])
        if session.scalar(select(exists().where(Person.iin == iin))):
            raise Conflict(f"a person with IIN {iin} already exists")
    elif data["citizenship"] == CITIZEN_COUNTRY:
        raise Invalid("iin", "is required for citizens of Kazakhstan")
    else:
        iin, generated = allocate_iin(session, birth_date, data["sex"]), True
    document = data.get("document") or {}
    person = Person(
        iin=iin,
        iin_generated=generated,
        surname=data["surname"].strip(),
        given_name=data["given_name"].strip(),
        surname_cyrillic=_clean(data.get("surname_cyrillic")),
        given_name_cyrillic=_clean(data.get("given_name_cyrillic")),
        patronymic_cyrillic=_clean(data.get("patronymic_cyrillic")),
        surname_latin=_clean(data.get("surname_latin")),
        given_name_latin=_clean(data.get("given_name_latin")),
        name_key=name_key(data.get("surname_cyrillic"), data.get("surname_latin"), data["surname"]),
        birth_date=birth_date,
        sex=data["sex"],
        citizenship=data["citizenship"],
        category=data["category"],
        document_type=document.get("type"),
        document_number=document.get("number"),
        document_key=document_key(document.get("number")),
        is_demo=is_demo,
    )
    taken = f"a person with IIN {iin} already exists"
    try:
        with session.begin_nested():
            session.add(person)
            session.flush()
            register_keys.claim(session, register_keys.iin_key(iin), person.id, taken)
    except IntegrityError as exc:
        raise Conflict(taken) from exc
    # Still created, but scored against the register: each likely duplicate is named in
    # the answer and opens a review item (issue 22).
    person.duplicate_candidates = duplicates.screen(session, person, data)
    return person


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


CARD = (selectinload(Person.current_registrations), selectinload(Person.permits))


def get_person(session: Session, person_id: int) -> Person:
    """The person with the card's registrations and permits loaded; for a person merged
    into another, the survivor, with ``merged_into`` (and ``requested_id``) set."""
    person = _card(session, person_id)
    if person.merged_into is None:
        return person
    survivor = _card(session, person.merged_into)
    survivor.answered_for = person.id
    return survivor


def _card(session: Session, person_id: int) -> Person:
    person = session.scalars(
        select(Person)
        .where(Person.id == person_id)
        .options(*CARD)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if person is None:
        raise NotFound(f"person {person_id} not found")
    return person


def list_persons(
    session: Session, iin: str | None, limit: int, cursor: str | None
) -> tuple[list[Person], str | None]:
    after = decode_cursor(cursor)
    query = select(Person).options(*CARD).where(Person.id > after).order_by(Person.id).limit(limit)
    if iin:
        query = query.where(Person.iin == iin)
    people = list(session.scalars(query))
    return people, next_cursor([p.id for p in people], limit)


def find_person(session: Session, typed: str) -> list[Person]:
    """The persons a staff member means by ``typed``: an IIN, a document number or a
    person id, as typed (spaces or hyphens anywhere, any letter case). Several when a
    document number is held by persons of different countries; empty when nobody matches."""
    key = iin_typed("".join(typed.split())).upper()
    if not key:
        return []
    match = [Person.document_key == document_key(typed)]
    if ascii_digits(key):
        match.append(Person.iin == key)
        if len(key) < 12:
            match.append(Person.id == int(key))
    found = session.scalars(select(Person.id).where(or_(*match)).order_by(Person.id).limit(5))
    return [get_person(session, person_id) for person_id in found]
