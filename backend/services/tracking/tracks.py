"""Reading a person's movements: the track as GeoJSON, stays and trips."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from backend.services.closing_days import closed_day_reads
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


def _stays(fixes: list[Fix], settings: Settings) -> tuple[list[Any], list[Any]]:
    """The stays in time-ordered fixes and the trips between them."""
    stays = detect_stays(
        fixes, settings.stay_radius_m, timedelta(minutes=settings.stay_min_minutes)
    )
    return stays, trips_between(fixes, stays)


# Metres to degrees of latitude: the simplification tolerance is given in metres.
_M_PER_DEGREE = 111_320.0

# The track in one statement: the point features and the per-day lines as GeoJSON text
# assembled by PostgreSQL, and the fixes as three arrays for the stays found in Python.
# With a tolerance, each day's line is simplified (Douglas-Peucker, vertices keep their
# fix's number as M) and only the fixes it keeps are shown; stays use every fix.
_TRACK = text(
    """
WITH f AS MATERIALIZED (
    SELECT row_number() OVER (ORDER BY recorded_at) AS i, recorded_at, geom,
           accuracy_m, speed_mps, (recorded_at AT TIME ZONE 'UTC')::date AS day
    FROM trace_points
    WHERE person_id = :p AND recorded_at >= :start AND recorded_at < :end
), kept AS (
    SELECT CAST(ST_M((ST_DumpPoints(ST_Simplify(
               ST_MakeLine(ST_MakePointM(ST_X(geom), ST_Y(geom), i) ORDER BY i),
               CAST(:tolerance AS float8), true))).geom) AS bigint) AS i
    FROM f WHERE CAST(:tolerance AS float8) IS NOT NULL GROUP BY day
), shown AS (
    SELECT * FROM f
    WHERE CAST(:tolerance AS float8) IS NULL OR i IN (SELECT i FROM kept)
)
SELECT
    (SELECT string_agg(json_build_object(
         'type', 'Feature',
         'geometry', CAST(ST_AsGeoJSON(geom) AS json),
         'properties', json_build_object('kind', 'point', 't', recorded_at,
             'accuracy_m', accuracy_m, 'speed_mps', speed_mps))::text, ',' ORDER BY i)
     FROM shown) AS points,
    (SELECT string_agg(json_build_object(
         'type', 'Feature',
         'geometry', CAST(ST_AsGeoJSON(line) AS json),
         'properties', json_build_object('kind', 'day', 'day', day, 'points', n))::text,
         ',' ORDER BY day)
     FROM (SELECT day, ST_MakeLine(geom ORDER BY i) AS line, count(*) AS n
           FROM shown GROUP BY day HAVING count(*) >= 2) AS d) AS days,
    (SELECT array_agg(CAST(extract(epoch FROM recorded_at) AS float8) ORDER BY i) FROM f) AS times,
    (SELECT array_agg(ST_Y(geom) ORDER BY i) FROM f) AS lat,
    (SELECT array_agg(ST_X(geom) ORDER BY i) FROM f) AS lon
"""
)


def _stay_features(stays: Sequence[Any], trips: Sequence[Any]) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
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
    return features


def track_geojson(
    session: Session,
    person_id: int,
    start: datetime,
    end: datetime,
    settings: Settings,
    simplify_m: float | None = None,
) -> str:
    """FeatureCollection text: the points, one LineString per UTC day, stays and trips.

    ``simplify_m``: a tolerance in metres (approximate: degrees of latitude); each day's
    line keeps only the fixes needed within it, and so do the point features.
    """
    with closed_day_reads(session.connection(), start, end):
        row = session.execute(
            _TRACK,
            {
                "p": person_id,
                "start": start,
                "end": end,
                "tolerance": None if simplify_m is None else simplify_m / _M_PER_DEGREE,
            },
        ).one()
    fixes = [
        Fix(datetime.fromtimestamp(t, UTC), lat, lon)
        for t, lat, lon in zip(row.times or (), row.lat or (), row.lon or (), strict=True)
    ]
    features = [part for part in (row.points, row.days) if part]
    extra = _stay_features(*_stays(fixes, settings))
    if extra:
        features.append(json.dumps(extra)[1:-1])
    properties = {"person_id": person_id, "from": start.isoformat(), "to": end.isoformat()}
    if simplify_m is not None:
        properties["simplify_m"] = simplify_m
    return (
        '{"type": "FeatureCollection", "features": ['
        + ", ".join(features)
        + '], "properties": '
        + json.dumps(properties)
        + "}"
    )


def stays_and_trips(
    session: Session, person_id: int, start: datetime, end: datetime, settings: Settings
) -> dict[str, Any]:
    with closed_day_reads(session.connection(), start, end):
        rows = _fixes(session, person_id, start, end)
    stays, trips = _stays([Fix(r.recorded_at, r.lat, r.lon) for r in rows], settings)
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
