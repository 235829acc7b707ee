"""Gathering zone-ranking inputs from the register and reference data, in PostGIS."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid
from backend.services import policy
from backend.services.settlement.quotas import quota_fills
from gis.zones import UnitInputs, ZoneScore, aggregate, rank


def _headrooms(session: Session, year: int) -> dict[str, float]:
    """Share of each region's *kandas* quota still free, where one is set.

    Zones rank places for kandas settlement (concept action 24), and each category has
    its own headroom (rule 3): a region whose kandas quota is full is closed to kandas
    even when resettler places remain.
    """
    return {
        kato: fill.headroom_of("kandas")
        for kato, fill in quota_fills(session, year).items()
        if fill.set
    }


def settlement_inputs(
    session: Session,
    year: int,
    region_kato: str | None,
    headroom: dict[str, float],
    areas: list[str],
) -> list[UnitInputs]:
    rows = session.execute(
        text(
            """
            SELECT s.kato, s.name, s.name_ru, s.name_kk, s.region_kato, s.district_kato,
                   (s.region_kato = ANY(:areas) OR s.district_kato = ANY(:areas)) AS designated,
                   r.name_ru AS region_name,
                   ST_Y(s.geom) AS lat, ST_X(s.geom) AS lon,
                   i.labour_demand, i.has_school, i.has_clinic, i.has_housing, i.has_transport,
                   i.has_kindergarten, i.has_utilities, i.settlement_kato IS NOT NULL AS known,
                   i.population_trend, i.is_demo,
                   EXISTS (SELECT 1 FROM settlement_lists l
                           WHERE l.year = :y AND l.settlement_kato = s.kato) AS listed
            FROM settlements s
            JOIN regions r ON r.kato = s.region_kato
            LEFT JOIN settlement_indicators i ON i.settlement_kato = s.kato
            WHERE CAST(:region AS varchar) IS NULL OR s.region_kato = :region
            ORDER BY s.kato
            """
        ),
        {"y": year, "region": region_kato, "areas": areas},
    ).all()
    return [
        UnitInputs(
            kato=r.kato,
            name=r.name,
            labour_demand=r.labour_demand,
            quota_headroom=headroom.get(r.region_kato),
            # No indicators row: nothing is known (no data), which is not "lacking".
            infrastructure={
                "school": r.has_school if r.known else None,
                "kindergarten": r.has_kindergarten,
                "clinic": r.has_clinic if r.known else None,
                "housing": r.has_housing if r.known else None,
                "utilities": r.has_utilities,
                "transport": r.has_transport if r.known else None,
            },
            population_trend=r.population_trend,
            designated=r.designated,
            listed=r.listed,
            extra={
                "region_kato": r.region_kato,
                "district_kato": r.district_kato,
                "region_name": r.region_name,
                # In the reader's language, the GeoNames Latin name where none is known.
                "names": {"ru": r.name_ru or r.name, "kk": r.name_kk or r.name, "en": r.name},
                "lat": r.lat,
                "lon": r.lon,
                "demo": bool(r.is_demo),
            },
        )
        for r in rows
    ]


LEVELS = ("region", "district", "settlement")


def zones(
    session: Session,
    level: str,
    year: int | None = None,
    region_kato: str | None = None,
) -> list[ZoneScore]:
    """Ranked units of a level: ``region``, ``district`` or ``settlement``."""
    if level not in LEVELS:
        raise Invalid("level", "must be region, district or settlement")
    return rank_levels(session, year, (level,), region_kato)[level]


def rank_levels(
    session: Session,
    year: int | None,
    levels: tuple[str, ...],
    region_kato: str | None = None,
) -> dict[str, list[ZoneScore]]:
    """Rank several levels from one read of the settlements' inputs and quota headroom,
    by the designation, weights and thresholds in force for the year."""
    year = year or clock.today().year
    day = policy.day_for_year(year)
    rules = policy.zone_rules(session, day)
    areas = policy.katos(session, "designated_areas", day)
    headroom = _headrooms(session, year)
    settlements = settlement_inputs(session, year, region_kato, headroom, areas)
    ranked: dict[str, list[ZoneScore]] = {}
    if "settlement" in levels:
        ranked["settlement"] = rank(settlements, rules)
    if "region" in levels:
        regions = session.execute(
            text(
                """
                SELECT kato, name_ru,
                       kato = ANY(:areas) OR EXISTS (SELECT 1 FROM districts d
                           WHERE d.region_kato = r.kato AND d.kato = ANY(:areas)) AS designated
                FROM regions r
                WHERE CAST(:region AS varchar) IS NULL OR kato = :region ORDER BY kato
                """
            ),
            {"region": region_kato, "areas": areas},
        ).all()
        units = [
            aggregate(
                r.kato,
                r.name_ru,
                [s for s in settlements if s.extra["region_kato"] == r.kato],
                r.designated,
                headroom.get(r.kato),
            )
            for r in regions
        ]
        ranked["region"] = rank(units, rules)
    if "district" in levels:
        districts = session.execute(
            text(
                """
                SELECT d.kato, d.name, d.region_kato,
                       d.region_kato = ANY(:areas) OR d.kato = ANY(:areas) AS designated
                FROM districts d
                WHERE CAST(:region AS varchar) IS NULL OR d.region_kato = :region ORDER BY d.kato
                """
            ),
            {"region": region_kato, "areas": areas},
        ).all()
        units = [
            aggregate(
                d.kato,
                d.name,
                [s for s in settlements if s.extra["district_kato"] == d.kato],
                d.designated,
                headroom.get(d.region_kato),
                {"region_kato": d.region_kato},
            )
            for d in districts
        ]
        ranked["district"] = rank(units, rules)
    return ranked
