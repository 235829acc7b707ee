"""Contacts of the people a registration concerns: a host's or a foreigner's e-mail and
phone. Personal data: held only with the person's consent, for a stated purpose, until a
retention date (``contact_retention_days`` after consent at most; the retention job
deletes them), and every change is audited by the caller."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid, NotFound
from backend.models import Person, PersonContact
from backend.services.access.accounts import normal_email

PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")


def add_contact(
    session: Session, person_id: int, data: dict[str, Any], retention_days: int
) -> PersonContact:
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id} not found")
    if not data.get("consent"):
        raise Invalid("consent", "a contact is held only with the person's consent")
    email, phone = data.get("email"), data.get("phone")
    if not email and not phone:
        raise Invalid("email", "give an e-mail address or a phone number")
    if phone and not PHONE.match(phone):
        raise Invalid("phone", "must be in international form, e.g. +77011234567")
    now = clock.now()
    arrived_on = data.get("arrived_on")
    if arrived_on is not None and arrived_on > clock.today(now):
        raise Invalid("arrived_on", "cannot be in the future")
    contact = PersonContact(
        person_id=person_id,
        relation=data["relation"],
        email=normal_email(email) if email else None,
        phone=phone,
        language=data.get("language", "ru"),
        purpose=data["purpose"].strip(),
        consent_at=now,
        retain_until=clock.today(now) + timedelta(days=retention_days),
        arrived_on=data.get("arrived_on"),
    )
    session.add(contact)
    session.flush()
    return contact


def list_contacts(session: Session, person_id: int) -> list[PersonContact]:
    return list(
        session.scalars(
            select(PersonContact)
            .where(PersonContact.person_id == person_id)
            .order_by(PersonContact.id)
        )
    )


def delete_contact(session: Session, person_id: int, contact_id: int) -> None:
    contact = session.get(PersonContact, (contact_id, person_id))
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    session.delete(contact)
    session.flush()
