"""Registrations at a place of residence or stay, and who is registered near a point."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Row, select, text, update
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid
from backend.models import Person, Registration
from backend.services import policy
from gis.convert import point_element
from gis.locate import Place, locate_point, locate_settlement


def resolve_place(
    session: Session, location: dict[str, float] | None, settlement_kato: str | None
) -> Place:
    """Region and settlement of a registration from a location and/or a settlement KATO."""
    by_point = by_kato = None
    if location is not None:
        by_point = locate_point(session, location["lon"], location["lat"])
        if by_point is None:
            raise Invalid("location", "is outside Kazakhstan")
    if settlement_kato is not None:
        by_kato = locate_settlement(session, settlement_kato)
        if by_kato is None:
            raise Invalid("settlement_kato", f"unknown settlement {settlement_kato}")
    if by_point and by_kato:
        if by_point.region_kato != by_kato.region_kato:
            raise Invalid(
                "settlement_kato",
                f"is in region {by_kato.region_kato}, the location in {by_point.region_kato}",
            )
        return Place(by_point.region_kato, by_kato.settlement_kato, by_point.lon, by_point.lat)
    place = by_point or by_kato
    assert place is not None
    return place


def registration_deadline(session: Session, arrived_on: date, notified_by: str) -> date:
    """The last day a foreigner's registration may be notified, by the rules in force on
    the arrival day (docs/domain.md rule 8, an assumption): the host within N working days; a
    visa-free immigrant online within N calendar days, once that rule is in force."""
    if notified_by == "self":
        days = policy.optional(session, "registration_self_days", arrived_on)
        if days is None:
            raise Invalid(
                "notified_by", f"online self-registration is not in force on {arrived_on}"
            )
        return arrived_on + timedelta(days=int(days))
    working = policy.integer(session, "registration_host_working_days", arrived_on)
    return clock.add_working_days(arrived_on, working)


def create_registration(
    session: Session, data: dict[str, Any], source_key: str | None = None
) -> Registration:
    """Record a registration; it closes the person's current one of the same kind."""
    person = session.get(Person, data["person_id"], with_for_update=True)
    if person is None:
        raise Invalid("person_id", f"person {data['person_id']} does not exist")
    place = resolve_place(session, data.get("location"), data.get("settlement_kato"))
    valid_from: date = data["valid_from"]
    current = session.scalars(
        select(Registration).where(
            Registration.person_id == person.id,
            Registration.kind == data["kind"],
            Registration.ended_on.is_(None),
        )
    ).first()
    if current is not None:
        if valid_from < current.valid_from:
            raise Invalid(
                "valid_from",
                f"is before the start of the current {data['kind']} registration "
                f"({current.valid_from})",
            )
        session.execute(
            update(Registration).where(Registration.id == current.id).values(ended_on=valid_from)
        )
        session.flush()
    registration = Registration(
        person_id=person.id,
        kind=data["kind"],
        address=data.get("address"),
        region_kato=place.region_kato,
        settlement_kato=place.settlement_kato,
        geom=point_element(place.lon, place.lat),
        valid_from=valid_from,
        valid_to=data.get("valid_to"),
        source_key=source_key,
    )
    arrived_on = data.get("arrived_on")
    if arrived_on is not None:
        if person.citizenship == "KAZ":
            raise Invalid("arrived_on", "applies to foreigners and stateless persons only")
        notified_on: date = data.get("notified_on") or clock.today()
        if notified_on < arrived_on:
            raise Invalid("notified_on", f"is before the arrival ({arrived_on})")
        registration.arrived_on = arrived_on
        registration.notified_by = data.get("notified_by") or "host"
        deadline = registration_deadline(session, arrived_on, registration.notified_by)
        registration.late_registration = notified_on > deadline
    session.add(registration)
    session.flush()
    return registration


def registrations_near(
    session: Session,
    lat: float,
    lon: float,
    radius_m: int,
    limit: int,
    region_kato: str | None = None,
) -> list[Row[Any]]:
    """Current registrations within ``radius_m``, nearest first (GiST on geography)."""
    rows = session.execute(
        text(
            """
            WITH here AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g)
            SELECT r.id, r.person_id, p.surname, p.given_name, r.kind, r.address,
                   round(ST_Distance(r.geom::geography, here.g)::numeric, 1)::float8
                       AS distance_m,
                   ST_Y(r.geom) AS lat, ST_X(r.geom) AS lon
            FROM registrations r JOIN persons p ON p.id = r.person_id, here
            WHERE r.ended_on IS NULL
              AND ST_DWithin(r.geom::geography, here.g, :radius)
              AND (CAST(:region AS varchar) IS NULL OR r.region_kato = :region)
            ORDER BY ST_Distance(r.geom::geography, here.g), r.id
            LIMIT :limit
            """
        ),
        {"lat": lat, "lon": lon, "radius": radius_m, "limit": limit, "region": region_kato},
    ).all()
    return list(rows)
