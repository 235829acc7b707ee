"""Point-in-region and nearest-settlement lookups, done in PostGIS where the data lives."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

# Nearest settlement is searched within this distance of a point.
NEAREST_SETTLEMENT_MAX_M = 50_000


@dataclass(frozen=True)
class Place:
    region_kato: str
    settlement_kato: str | None
    lon: float
    lat: float


def region_at(conn: Connection | Session, lon: float, lat: float) -> str | None:
    """KATO of the region containing the point, or None outside Kazakhstan."""
    return conn.execute(
        text(
            """
            SELECT region_kato FROM region_parts
            WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
            LIMIT 1
            """
        ),
        {"lon": lon, "lat": lat},
    ).scalar_one_or_none()


def locate_point(conn: Connection | Session, lon: float, lat: float) -> Place | None:
    """Region and nearest settlement of a point (settlement within 50 km, same region)."""
    region = region_at(conn, lon, lat)
    if region is None:
        return None
    settlement = conn.execute(
        text(
            """
            SELECT kato FROM settlements
            WHERE region_kato = :region
              AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography,
                             :maxd)
            ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
            LIMIT 1
            """
        ),
        {"region": region, "lon": lon, "lat": lat, "maxd": NEAREST_SETTLEMENT_MAX_M},
    ).scalar_one_or_none()
    return Place(region, settlement, lon, lat)


def locate_settlement(conn: Connection | Session, kato: str) -> Place | None:
    """The point and region of a settlement by its KATO, or None when unknown."""
    row = conn.execute(
        text("SELECT region_kato, ST_X(geom), ST_Y(geom) FROM settlements WHERE kato = :k"),
        {"k": kato},
    ).first()
    if row is None:
        return None
    return Place(row[0], kato, row[1], row[2])
