"""An officer's region scope: which persons a region-bound officer may see.

A person is in the scope of region R unless the register places them elsewhere: by a
current registration or a permit (those in force, else the latest), none of them in R. A
person the register places nowhere (no current registration, never a permit: the case an
officer most needs to act on) is in every region's scope. Where the officer stands, or
says they stand, never widens it. Officers without a region and the other roles see all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, text
from sqlalchemy.orm import Session

from backend import clock
from backend.services.access.tokens import Principal

# Where the register places a person: their current registrations, and their permits in
# force (or, when none is, their latest permit: one terminated in Astana still places its
# holder there). No place at all: in every scope.
_IN_SCOPE = """(SELECT coalesce(bool_or(places.region_kato = :scope_region), true) FROM (
    SELECT sr.region_kato FROM registrations sr
    WHERE sr.person_id = {person} AND sr.ended_on IS NULL
    UNION ALL
    SELECT sp.region_kato FROM permits sp
    WHERE sp.person_id = {person} AND sp.status = 'active' AND sp.valid_to >= :scope_today
    UNION ALL
    (SELECT sp.region_kato FROM permits sp
     WHERE sp.person_id = {person} AND NOT EXISTS (
         SELECT 1 FROM permits sf WHERE sf.person_id = {person}
         AND sf.status = 'active' AND sf.valid_to >= :scope_today)
     ORDER BY sp.valid_to DESC LIMIT 1)
) places)"""


def scope_clause(principal: Principal, person_column: str) -> ColumnElement[bool] | None:
    """A WHERE clause keeping the persons in ``principal``'s scope (None: no limit)."""
    if not principal.region_kato:
        return None
    return text(_IN_SCOPE.format(person=person_column)).bindparams(
        scope_region=principal.region_kato, scope_today=clock.today()
    )  # type: ignore[return-value]


def in_scope(session: Session, principal: Principal, person_id: int) -> bool:
    if not principal.region_kato:
        return True
    return bool(
        session.scalar(
            text(f"SELECT {_IN_SCOPE.format(person=':scope_person')}"),
            {
                "scope_person": person_id,
                "scope_region": principal.region_kato,
                "scope_today": clock.today(),
            },
        )
    )


def places_in_scope(
    region: str | None,
    registrations: Iterable[Any],
    permits: Iterable[Any],
    today: date,
) -> bool:
    """The same rule on rows already read (an officer's check): ``registrations`` are the
    current ones, ``permits`` all of the person's."""
    if not region:
        return True
    permits = list(permits)
    in_force = [p for p in permits if p.status == "active" and p.valid_to >= today]
    latest = sorted(permits, key=lambda p: p.valid_to)[-1:]
    places = [r.region_kato for r in registrations] + [p.region_kato for p in in_force or latest]
    return not places or region in places
