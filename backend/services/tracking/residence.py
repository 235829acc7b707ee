"""Residence mismatch: where a monitored person spends nights vs. the registered address.

Nights change slowly, so this runs as an hourly sweep rather than after every batch. The
night residence is the stay (see :mod:`gis.trajectories`) holding the most night-time
fixes in the local time zone; it must recur on several nights to count.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.db import Database
from backend.models import Registration
from backend.services.tracking.alert_store import close_alert, lock_person, open_alert
from backend.settings import Settings
from gis.trajectories import Fix, detect_stays, haversine_m


def _place_of_stay(session: Session, person_id: int) -> Registration | None:
    return session.scalars(
        select(Registration)
        .where(Registration.person_id == person_id, Registration.ended_on.is_(None))
        .order_by(Registration.kind.desc(), Registration.valid_from.desc())  # temporary first
    ).first()


def night_residence(
    session: Session, person_id: int, settings: Settings, now: datetime
) -> dict[str, Any] | None:
    """Where the person spends nights: the stay holding the most night-time fixes."""
    tz = clock.LOCAL_TZ
    rows = session.execute(
        text(
            """
            SELECT recorded_at, ST_Y(geom), ST_X(geom) FROM trace_points
            WHERE person_id = :p AND recorded_at >= :since ORDER BY recorded_at
            """
        ),
        {"p": person_id, "since": now - timedelta(days=settings.residence_lookback_days)},
    ).all()
    fixes = [Fix(t, lat, lon) for t, lat, lon in rows]

    def is_night(t: datetime) -> bool:
        hour = t.astimezone(tz).hour
        return hour >= settings.night_start_hour or hour < settings.night_end_hour

    def night_of(t: datetime) -> date:
        local = t.astimezone(tz)
        return (local - timedelta(hours=settings.night_end_hour)).date()

    stays = detect_stays(
        fixes, settings.stay_radius_m, timedelta(minutes=settings.stay_min_minutes)
    )
    # The stay holding the most night-time fixes is where the person sleeps.
    best, best_count = None, 0
    for stay in stays:
        count = sum(1 for f in fixes if stay.arrived <= f.t <= stay.left and is_night(f.t))
        if count > best_count:
            best, best_count = stay, count
    # Stays can be broken by a short walk; count every night spent within the radius.
    best_nights: set[date] = set()
    if best is not None:
        best_nights = {
            night_of(f.t)
            for f in fixes
            if is_night(f.t)
            and haversine_m(best.lat, best.lon, f.lat, f.lon) <= settings.stay_radius_m
        }
    if best is None or len(best_nights) < settings.residence_min_nights:
        return None
    return {"lat": best.lat, "lon": best.lon, "nights": len(best_nights)}


def evaluate_residence(session: Session, person_id: int, settings: Settings, now: datetime) -> None:
    kind = "residence_mismatch"
    registration = _place_of_stay(session, person_id)
    if registration is None:
        return
    residence = night_residence(session, person_id, settings, now)
    if residence is None:
        return
    reg = session.execute(
        text("SELECT ST_Y(geom), ST_X(geom) FROM registrations WHERE id = :i"),
        {"i": registration.id},
    ).one()
    distance_km = haversine_m(reg[0], reg[1], residence["lat"], residence["lon"]) / 1000
    if distance_km > settings.residence_mismatch_km:
        open_alert(
            session,
            person_id,
            kind,
            registration.region_kato,
            {
                "registered": {"lat": reg[0], "lon": reg[1]},
                "nights_at": {"lat": residence["lat"], "lon": residence["lon"]},
                "nights": residence["nights"],
                "distance_km": round(distance_km, 2),
            },
        )
    else:
        close_alert(session, person_id, kind, "nights spent at the registered address")


def sweep_residence(database: Database, settings: Settings, now: datetime | None = None) -> int:
    """Where monitored persons spend nights vs. their registered address (hourly job).

    Nights change slowly, so this runs on a schedule rather than after every batch.
    """
    now = now or clock.now()
    with database.transaction() as session:
        person_ids = (
            session.execute(
                text(
                    """
                SELECT DISTINCT l.person_id FROM trace_last_positions l
                WHERE l.recorded_at >= :since
                """
                ),
                {"since": now - timedelta(days=settings.residence_lookback_days)},
            )
            .scalars()
            .all()
        )
    for person_id in person_ids:
        with database.transaction() as session:
            lock_person(session, person_id)
            evaluate_residence(session, person_id, settings, now)
    return len(person_ids)
