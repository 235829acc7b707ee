"""The collections of the OGC API – Features endpoint: geography and aggregates only.

``regions``, ``districts``, ``settlements`` (with their zone, score and its components)
and ``density`` (persons registered per hexagon, cells under k persons suppressed).
Nothing here identifies a person. Each collection answers one page of features for a
bounding box, a limit and an offset, with the number matched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid, NotFound
from backend.services.monitoring import monitoring
from backend.services.settlement import zones
from gis.reference import GEONAMES_ATTRIBUTION, REGIONS_ATTRIBUTION

KAZAKHSTAN = (46.49, 40.56, 87.36, 55.44)  # lon/lat bounds of the 20 regions
DIGITS = 5  # GeoJSON precision, about 1 m


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    temporal: bool = False


COLLECTIONS = {
    c.id: c
    for c in (
        Collection("regions", "Regions", f"The 20 regions by KATO. {REGIONS_ATTRIBUTION}"),
        Collection("districts", "Districts", "Districts by KATO, where they are loaded."),
        Collection(
            "settlements",
            "Settlements with zones",
            "Settlements by KATO with this year's zone (A-D), score and each score "
            f"component, and the rules that capped it. {GEONAMES_ATTRIBUTION}",
        ),
        Collection(
            "density",
            "Registered persons per hexagon",
            "Persons registered in one ISO week per hexagon (Web Mercator); a cell with "
            "fewer than k persons is left out, so that no cell identifies a person. Counts "
            "are published for whole, finished ISO weeks only, so that two answers cannot be "
            "subtracted to show a cell under k: `datetime` picks the week holding its end "
            "(a week still running gives the last finished one); `period_start` and "
            "`period_end` say which week was counted.",
            temporal=True,
        ),
    )
}


@dataclass(frozen=True)
class Page:
    features: list[dict[str, Any]]
    matched: int


def _feature(fid: str, geometry: Any, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": properties}


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if not raw:
        return None
    try:
        parts = tuple(float(p) for p in raw.split(","))
    except ValueError:
        raise Invalid("bbox", "must be four numbers: minlon,minlat,maxlon,maxlat") from None
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise Invalid("bbox", "must be four finite numbers: minlon,minlat,maxlon,maxlat")
    if parts[0] > parts[2] or parts[1] > parts[3]:
        raise Invalid("bbox", "must be four numbers: minlon,minlat,maxlon,maxlat")
    return parts[0], parts[1], parts[2], parts[3]


def parse_period(raw: str | None) -> tuple[date | None, date | None]:
    """An RFC 3339 instant or interval (``a/b``, ``../b``, ``a/..``) → days."""
    if not raw:
        return None, None

    def day(part: str) -> date | None:
        if part in ("", ".."):
            return None
        try:
            return date.fromisoformat(part[:10])
        except ValueError:
            raise Invalid("datetime", "must be an RFC 3339 date, time or interval") from None

    if "/" in raw:
        start, end = raw.split("/", 1)
        return day(start), day(end)
    both = day(raw)
    return both, both


def _sql_page(
    session: Session,
    table_sql: str,
    bbox: tuple[float, float, float, float] | None,
    limit: int,
    offset: int,
    fid: str | None,
) -> tuple[list[Any], int]:
    where = "WHERE (CAST(:fid AS varchar) IS NULL OR kato = :fid)"
    if bbox:
        where += " AND ST_Intersects(geom, ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4326))"
    params: dict[str, Any] = {"fid": fid, "limit": limit, "offset": offset, "d": DIGITS}
    if bbox:
        params |= dict(zip(("x1", "y1", "x2", "y2"), bbox, strict=True))
    rows = session.execute(
        text(
            f"""
            SELECT *, ST_AsGeoJSON(geom, :d) AS geojson, count(*) OVER () AS matched
            FROM ({table_sql}) t {where} ORDER BY kato LIMIT :limit OFFSET :offset
            """
        ),
        params,
    ).all()
    matched = rows[0].matched if rows else 0
    if not rows and offset:
        matched = (
            session.scalar(
                text(f"SELECT count(*) FROM ({table_sql}) t {where}"),
                params,
            )
            or 0
        )
    return list(rows), matched


def _table(
    columns: tuple[str, ...], table: str, tolerance: float
) -> Callable[[Session, Any, int, int, str | None], Page]:
    """A collection read from a table keyed by KATO: its columns as properties, its
    geometry simplified by ``tolerance`` degrees."""

    def read(session: Session, bbox: Any, limit: int, offset: int, fid: str | None) -> Page:
        rows, matched = _sql_page(
            session,
            f"SELECT {', '.join(columns)}, ST_SimplifyPreserveTopology(geom, {tolerance})"
            f" AS geom FROM {table}",
            bbox,
            limit,
            offset,
            fid,
        )
        return Page(
            [
                _feature(r.kato, json.loads(r.geojson), {c: getattr(r, c) for c in columns})
                for r in rows
            ],
            matched,
        )

    return read


regions = _table(("kato", "name_ru", "name_kk", "name_en"), "regions", 0.005)
districts = _table(("kato", "name", "region_kato"), "districts", 0.002)


def _inside(lon: float, lat: float, bbox: Any) -> bool:
    return bbox is None or (bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3])


def settlements(session: Session, bbox: Any, limit: int, offset: int, fid: str | None) -> Page:
    ranked = zones.rank_levels(session, clock.today().year, ("settlement",))["settlement"]
    chosen = [
        z
        for z in sorted(ranked, key=lambda z: z.kato)
        if (fid is None or z.kato == fid) and _inside(z.extra["lon"], z.extra["lat"], bbox)
    ]
    return Page(
        [
            _feature(
                z.kato,
                {
                    "type": "Point",
                    "coordinates": [round(z.extra["lon"], DIGITS), round(z.extra["lat"], DIGITS)],
                },
                {
                    "kato": z.kato,
                    "name": z.name,
                    # As regions have them; the GeoNames Latin name where none is known.
                    "name_ru": z.extra["names"]["ru"],
                    "name_kk": z.extra["names"]["kk"],
                    "name_en": z.extra["names"]["en"],
                    "region_kato": z.extra["region_kato"],
                    "zone": z.zone,
                    "score": z.score,
                    "rank": z.rank,
                    "caps": ",".join(z.caps),
                    **{
                        f"{name}_{part}": value
                        for name, parts in z.components.items()
                        for part, value in parts.items()
                    },
                },
            )
            for z in chosen[offset : offset + limit]
        ],
        len(chosen),
    )


def density(
    session: Session,
    bbox: Any,
    limit: int,
    offset: int,
    fid: str | None,
    period: tuple[date | None, date | None],
    k: int,
    cell_m: float,
) -> Page:
    filters = monitoring.Filters.of(period[0], period[1])
    cells, _hidden = monitoring.density(session, filters, k, cell_m)
    published = monitoring.density_period(filters)
    features = []
    for cell in cells:
        ring = cell.geometry["coordinates"][0]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        if bbox and (
            max(lons) < bbox[0] or min(lons) > bbox[2] or max(lats) < bbox[1] or min(lats) > bbox[3]
        ):
            continue
        cell_id = f"{cell.i}_{cell.j}"
        if fid is not None and cell_id != fid:
            continue
        features.append(
            _feature(
                cell_id,
                cell.geometry,
                {
                    "persons": cell.count,
                    "period_start": published[0].isoformat(),
                    "period_end": published[1].isoformat(),
                },
            )
        )
    return Page(features[offset : offset + limit], len(features))


Reader = Callable[..., Page]


def items(
    session: Session,
    collection: str,
    bbox: tuple[float, float, float, float] | None,
    limit: int,
    offset: int,
    fid: str | None = None,
    period: tuple[date | None, date | None] = (None, None),
    k: int = 5,
    cell_m: float = 20_000.0,
) -> Page:
    if collection not in COLLECTIONS:
        raise NotFound(f"no collection {collection}")
    if collection == "density":
        return density(session, bbox, limit, offset, fid, period, k, cell_m)
    reader: Reader = {"regions": regions, "districts": districts, "settlements": settlements}[
        collection
    ]
    return reader(session, bbox, limit, offset, fid)
