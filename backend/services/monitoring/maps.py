"""Building the kandas settlement and monitoring maps and storing them as artifacts."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import NotFound
from backend.models import Alert, Job, MapArtifact, labels
from backend.models.registries import CATEGORIES
from backend.services.monitoring.monitoring import Filters, Monitoring, monitoring
from backend.services.settlement.quotas import quota_fills
from backend.services.settlement.zones import LEVELS, rank_levels
from backend.settings import Settings
from gis.reference import GEONAMES_ATTRIBUTION, REGIONS_ATTRIBUTION
from gis.settlement_names import NAMES_ATTRIBUTION
from maps.kandas import MapData, SettlementPoint, Unit, build_map
from maps.monitoring import build_monitoring_map

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
            z.extra["names"],
        )
        for z in ranked["settlement"]
    ]
    demo = bool(session.scalar(text("SELECT bool_or(is_demo) FROM settlement_indicators")))
    indicator_sources = (
        session.execute(text("SELECT DISTINCT source FROM settlement_indicators ORDER BY 1"))
        .scalars()
        .all()
    )
    named = session.scalar(text("SELECT count(names_source) > 0 FROM settlements"))
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
            *([NAMES_ATTRIBUTION] if named else []),
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
    params = {
        "year": data.year,
        "regions": len(data.regions),
        "districts": len(data.districts),
        "settlements": len(data.settlements),
    }
    return _store(session, "kandas-settlement", html, job_id, data.data_date, params)


def _store(
    session: Session,
    kind: str,
    html: bytes,
    job_id: str | None,
    data_date: Any,
    params: dict[str, Any],
) -> MapArtifact:
    artifact = MapArtifact(
        kind=kind,
        job_id=job_id,
        html=html,
        bytes=len(html),
        gzip_bytes=len(gzip.compress(html, 6)),
        data_date=data_date,
        params=params,
    )
    session.add(artifact)
    session.flush()
    return artifact


def monitoring_payload(session: Session, figures: Monitoring) -> dict[str, Any]:
    """The monitoring map's data: aggregates only, ready for JSON."""
    names = {
        r.kato: {"ru": r.name_ru, "kk": r.name_kk, "en": r.name_en}
        for r in session.execute(text("SELECT kato, name_ru, name_kk, name_en FROM regions"))
    }
    return {
        "filters": figures.filters.as_json(),
        "k": figures.k,
        "cell_m": figures.cell_m,
        "date": figures.data_date.isoformat(),
        "sources": [
            REGIONS_ATTRIBUTION,
            "src_register",  # a text of the map's own, in the reader's language
        ],
        "regions": [
            {
                "kato": r.kato,
                "names": r.names,
                "geometry": r.geometry,
                "registered": r.registered,
                "permits": r.permits,
                "alerts": r.alerts,
                "centre": list(r.centre),
            }
            for r in figures.regions
        ],
        "density": [{"geometry": c.geometry, "count": c.count} for c in figures.density],
        "checks": [
            {"geometry": c.geometry, "count": c.count, "verdicts": c.verdicts}
            for c in figures.checks
        ],
        "suppressed": {
            "cells": figures.density_suppressed.cells,
            "count": figures.density_suppressed.count,
        },
        "checks_suppressed": {
            "cells": figures.checks_suppressed.cells,
            "count": figures.checks_suppressed.count,
        },
        "alerts_by_kind": figures.alerts_by_kind,
        "region_names": names,
        "categories": list(CATEGORIES),
        "labels": labels.map_labels(),
    }


def build_and_store_monitoring(
    session: Session,
    settings: Settings,
    filters: Filters,
    job_id: str | None,
    progress: Callable[[int], None] = lambda _: None,
) -> MapArtifact:
    figures = monitoring(
        session, filters, settings.monitoring_min_persons, settings.monitoring_cell_m
    )
    progress(40)
    html = build_monitoring_map(
        monitoring_payload(session, figures),
        tiles_url=settings.map_tiles_url,
        progress=lambda p: progress(40 + int(p * 0.55)),
    ).encode("utf-8")
    return _store(session, "monitoring", html, job_id, figures.data_date, figures.summary())


def latest(
    session: Session, kind: str = "kandas-settlement", filters: dict[str, Any] | None = None
) -> MapArtifact:
    """The newest map of a kind; with ``filters``, the newest built with exactly those."""
    query = select(MapArtifact).where(MapArtifact.kind == kind)
    if filters is not None:
        query = query.where(MapArtifact.params.contains({"filters": filters}))
    artifact = session.scalars(query.order_by(MapArtifact.id.desc())).first()
    if artifact is None:
        raise NotFound(f"no {kind} map has been built yet: POST /api/v1/maps/{kind}")
    return artifact


def monitoring_view(
    session: Session, filters: dict[str, Any] | None, user_id: int | None, token_id: int | None
) -> MapArtifact:
    """The monitoring map a person opens: with ``filters``, the newest built with exactly
    those; without, the newest this person built, else the newest national one (no
    category or region). Another person's filtered map never replaces one's own view."""
    if filters is not None:
        return latest(session, "monitoring", filters)
    owner = Job.owner_user_id == user_id if user_id else Job.owner_token_id == token_id
    mine = session.scalars(
        select(MapArtifact)
        .join(Job, Job.id == MapArtifact.job_id)
        .where(MapArtifact.kind == "monitoring", owner)
        .order_by(MapArtifact.id.desc())
        .limit(1)
    ).first()
    if mine is not None:
        return mine
    return latest(session, "monitoring", {"category": None, "region_kato": None})


def newer_alerts(session: Session, artifact: MapArtifact) -> int:
    """Open alerts raised after the map was built (in its region, if it has one)."""
    region = (artifact.params.get("filters") or {}).get("region_kato")
    query = select(func.count()).where(
        Alert.status == "open", Alert.opened_at > artifact.created_at
    )
    if region:
        query = query.where(Alert.region_kato == region)
    return int(session.scalar(query) or 0)


def region_label(session: Session, kato: str | None, lang: str | None) -> str | None:
    """A region's name in ``lang`` (Russian by default), or None without a region."""
    if not kato:
        return None
    column = {"kk": "name_kk", "en": "name_en"}.get(lang or "ru", "name_ru")
    name = session.scalar(text(f"SELECT {column} FROM regions WHERE kato = :k"), {"k": kato})
    return str(name) if name else kato
