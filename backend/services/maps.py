"""Building the kandas settlement map from the register and storing it as an artifact."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import NotFound
from backend.models import MapArtifact
from backend.services.quotas import quota_fills
from backend.services.zones import LEVELS, rank_levels
from backend.settings import Settings
from gis.reference import GEONAMES_ATTRIBUTION, REGIONS_ATTRIBUTION
from maps.kandas import MapData, SettlementPoint, Unit, build_map

# Simplification tolerance in degrees (~1 km and ~0.5 km) and GeoJSON precision (~100 m).
REGION_TOLERANCE = 0.01
DISTRICT_TOLERANCE = 0.005
GEOJSON_DIGITS = 3


def _geometries(session: Session, table: str, tolerance: float) -> dict[str, Any]:
    rows = session.execute(
        text(f"SELECT kato, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :t), :d) FROM {table}"),
        {"t": tolerance, "d": GEOJSON_DIGITS},
    ).all()
    return {kato: json.loads(geojson) for kato, geojson in rows}


def map_data(session: Session, settings: Settings, year: int | None = None) -> MapData:
    year = year or clock.today().year
    ranked = rank_levels(session, year, LEVELS)
    region_geoms = _geometries(session, "regions", REGION_TOLERANCE)
    names = {
        r.kato: {"ru": r.name_ru, "kk": r.name_kk, "en": r.name_en}
        for r in session.execute(text("SELECT kato, name_ru, name_kk, name_en FROM regions"))
    }
    quotas = {
        kato: {
            column: {"limit": fill.limits[column], "fill": fill.fill[column]}
            for column in fill.limits
        }
        for kato, fill in quota_fills(session, year).items()
        if fill.set
    }
    regions = [
        Unit(
            z.kato,
            names[z.kato],
            region_geoms[z.kato],
            z.zone,
            z.score,
            z.components,
            z.caps,
            quotas.get(z.kato),
        )
        for z in ranked["region"]
    ]
    district_geoms = _geometries(session, "districts", DISTRICT_TOLERANCE)
    districts = [
        Unit(
            z.kato,
            {"ru": z.name, "kk": z.name, "en": z.name},
            district_geoms[z.kato],
            z.zone,
            z.score,
            z.components,
            z.caps,
        )
        for z in ranked["district"]
    ]
    settlements = [
        SettlementPoint(
            z.kato,
            z.name,
            z.extra["region_kato"],
            z.extra["lat"],
            z.extra["lon"],
            z.zone,
            z.score,
            z.components,
            z.caps,
            "not_listed" not in z.caps,
            z.rank,
        )
        for z in ranked["settlement"]
    ]
    demo = bool(session.scalar(text("SELECT bool_or(is_demo) FROM settlement_indicators")))
    indicator_sources = (
        session.execute(text("SELECT DISTINCT source FROM settlement_indicators ORDER BY 1"))
        .scalars()
        .all()
    )
    as_of = session.scalar(text("SELECT max(as_of) FROM settlement_indicators")) or clock.today()
    return MapData(
        year=year,
        data_date=as_of,
        regions=regions,
        districts=districts,
        settlements=settlements,
        sources=[
            REGIONS_ATTRIBUTION,
            GEONAMES_ATTRIBUTION,
            *[f"Indicators: {s}" for s in indicator_sources],
        ],
        demo=demo,
        tiles_url=settings.map_tiles_url,
    )


def build_and_store(
    session: Session,
    settings: Settings,
    year: int | None,
    job_id: str | None,
    progress: Callable[[int], None] = lambda _: None,
) -> MapArtifact:
    data = map_data(session, settings, year)
    progress(15)
    html = build_map(data, progress=lambda p: progress(15 + int(p * 0.8))).encode("utf-8")
    artifact = MapArtifact(
        kind="kandas-settlement",
        job_id=job_id,
        html=html,
        bytes=len(html),
        gzip_bytes=len(gzip.compress(html, 6)),
        data_date=data.data_date,
        params={
            "year": data.year,
            "regions": len(data.regions),
            "districts": len(data.districts),
            "settlements": len(data.settlements),
        },
    )
    session.add(artifact)
    session.flush()
    return artifact


def latest(session: Session, kind: str = "kandas-settlement") -> MapArtifact:
    artifact = session.scalars(
        select(MapArtifact).where(MapArtifact.kind == kind).order_by(MapArtifact.id.desc())
    ).first()
    if artifact is None:
        raise NotFound("no map has been built yet: POST /api/v1/maps/kandas-settlement")
    return artifact
