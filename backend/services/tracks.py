"""Reading a person's movements: the track as GeoJSON, stays and trips."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from backend.settings import Settings
from gis.trajectories import Fix, detect_stays, trips_between


def _fixes(session: Session, person_id: int, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    return session.execute(
        text(
            """
            SELECT recorded_at, ST_Y(geom) AS lat, ST_X(geom) AS lon, accuracy_m, speed_mps
            FROM trace_points
            WHERE person_id = :p AND recorded_at >= :start AND recorded_at < :end
            ORDER BY recorded_at
            """
        ),
        {"p": person_id, "start": start, "end": end},
    ).all()


def _stays(rows: Sequence[Row[Any]], settings: Settings) -> tuple[list[Fix], list[Any], list[Any]]:
    fixes = [Fix(r.recorded_at, r.lat, r.lon) for r in rows]
    stays = detect_stays(
        fixes, settings.stay_radius_m, timedelta(minutes=settings.stay_min_minutes)
    )
    return fixes, stays, trips_between(fixes, stays)


def track_geojson(
    session: Session, person_id: int, start: datetime, end: datetime, settings: Settings
) -> dict[str, Any]:
    """FeatureCollection: every point, one LineString per UTC day, stays and trips."""
    rows = _fixes(session, person_id, start, end)
    features: list[dict[str, Any]] = []
    by_day: dict[str, list[list[float]]] = defaultdict(list)
    for r in rows:
        coords = [r.lon, r.lat]
        by_day[r.recorded_at.date().isoformat()].append(coords)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": coords},
                "properties": {
                    "kind": "point",
                    "t": r.recorded_at.isoformat(),
                    "accuracy_m": r.accuracy_m,
                    "speed_mps": r.speed_mps,
                },
            }
        )
    for day, coords in sorted(by_day.items()):
        if len(coords) >= 2:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": coords},
                    "properties": {"kind": "day", "day": day, "points": len(coords)},
                }
            )
    _, stays, trips = _stays(rows, settings)
    for stay in stays:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [stay.lon, stay.lat]},
                "properties": {
                    "kind": "stay",
                    "arrived": stay.arrived.isoformat(),
                    "left": stay.left.isoformat(),
                    "minutes": round(stay.duration.total_seconds() / 60),
                },
            }
        )
    for trip in trips:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(c) for c in trip.path]},
                "properties": {
                    "kind": "trip",
                    "started": trip.started.isoformat(),
                    "ended": trip.ended.isoformat(),
                    "length_m": round(trip.length_m),
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"person_id": person_id, "from": start.isoformat(), "to": end.isoformat()},
    }


def stays_and_trips(
    session: Session, person_id: int, start: datetime, end: datetime, settings: Settings
) -> dict[str, Any]:
    _f, stays, trips = _stays(_fixes(session, person_id, start, end), settings)
    return {
        "stays": [
            {
                "arrived": s.arrived,
                "left": s.left,
                "location": {"lat": s.lat, "lon": s.lon},
                "minutes": round(s.duration.total_seconds() / 60),
                "points": s.points,
            }
            for s in stays
        ],
        "trips": [
            {
                "started": t.started,
                "ended": t.ended,
                "length_m": round(t.length_m),
                "points": len(t.path) - 2,
            }
            for t in trips
        ],
    }
