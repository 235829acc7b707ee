"""Gathering zone-ranking inputs from the register and reference data, in PostGIS."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid
from backend.services.quotas import quota_fills
from backend.settings import Settings
from gis.zones import UnitInputs, ZoneRules, ZoneScore, aggregate, rank


def rules_from(settings: Settings) -> ZoneRules:
    return ZoneRules(
        weights=settings.zone_weights,
        a_min=settings.zone_a_min,
        b_min=settings.zone_b_min,
        labour_demand_full=settings.labour_demand_full,
        population_trend_span=settings.population_trend_span,
    )


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
    session: Session, year: int, region_kato: str | None, headroom: dict[str, float]
) -> list[UnitInputs]:
    rows = session.execute(
        text(
            """
            SELECT s.kato, s.name, s.region_kato, s.district_kato, r.designated_for_settlement,
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
        {"y": year, "region": region_kato},
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
            designated=r.designated_for_settlement,
            listed=r.listed,
            extra={
                "region_kato": r.region_kato,
                "district_kato": r.district_kato,
                "region_name": r.region_name,
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
    settings: Settings,
    year: int | None = None,
    region_kato: str | None = None,
) -> list[ZoneScore]:
    """Ranked units of a level: ``region``, ``district`` or ``settlement``."""
    if level not in LEVELS:
        raise Invalid("level", "must be region, district or settlement")
    return rank_levels(session, settings, year, (level,), region_kato)[level]


def rank_levels(
    session: Session,
    settings: Settings,
    year: int | None,
    levels: tuple[str, ...],
    region_kato: str | None = None,
) -> dict[str, list[ZoneScore]]:
    """Rank several levels from one read of the settlements' inputs and quota headroom."""
    year = year or clock.today().year
    rules = rules_from(settings)
    headroom = _headrooms(session, year)
    settlements = settlement_inputs(session, year, region_kato, headroom)
    ranked: dict[str, list[ZoneScore]] = {}
    if "settlement" in levels:
        ranked["settlement"] = rank(settlements, rules)
    if "region" in levels:
        regions = session.execute(
            text(
                "SELECT kato, name_ru, designated_for_settlement FROM regions"
                " WHERE CAST(:region AS varchar) IS NULL OR kato = :region ORDER BY kato"
            ),
            {"region": region_kato},
        ).all()
        units = [
            aggregate(
                r.kato,
                r.name_ru,
                [s for s in settlements if s.extra["region_kato"] == r.kato],
                r.designated_for_settlement,
                headroom.get(r.kato),
            )
            for r in regions
        ]
        ranked["region"] = rank(units, rules)
    if "district" in levels:
        districts = session.execute(
            text(
                """
                SELECT d.kato, d.name, d.region_kato, r.designated_for_settlement
                FROM districts d JOIN regions r ON r.kato = d.region_kato
                WHERE CAST(:region AS varchar) IS NULL OR d.region_kato = :region ORDER BY d.kato
                """
            ),
            {"region": region_kato},
        ).all()
        units = [
            aggregate(
                d.kato,
                d.name,
                [s for s in settlements if s.extra["district_kato"] == d.kato],
                d.designated_for_settlement,
                headroom.get(d.region_kato),
                {"region_kato": d.region_kato},
            )
            for d in districts
        ]
        ranked["district"] = rank(units, rules)
    return ranked
