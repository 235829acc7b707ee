"""What the ministries monitor, aggregated in PostGIS: nothing here identifies a person.

- registrations and permits in force per region (the choropleth);
- a density grid of hexagons (``qonys_hex_cell`` → ``ST_Hexagon``, Web Mercator) of the
  persons registered in one fixed ISO week (never arbitrary days: see
  :func:`density_period`), each cell with fewer than k persons suppressed;
- open alerts by kind and region, ``sos`` first;
- field officers' checks per cell with their verdicts (cells with fewer than k checks
  suppressed too: a lone check would point at one person).

Filters: a period, a category and a region. Every figure is computed by one SQL
statement over the whole table, never one row per person in Python.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid
from backend.models.permit import permit_was_in_force_sql
from backend.models.registries import ALERT_KINDS, CATEGORIES, CHECK_VERDICTS

# Open alerts are listed in this order: a call for help first (where it exists).
ALERT_ORDER = ("sos", *(k for k in ALERT_KINDS if k != "sos"))
GEOJSON_DIGITS = 4


@dataclass(frozen=True)
class Filters:
    date_from: date
    date_to: date
    category: str | None = None
    region_kato: str | None = None

    @classmethod
    def of(
        cls,
        date_from: date | None = None,
        date_to: date | None = None,
        category: str | None = None,
        region_kato: str | None = None,
    ) -> Filters:
        """The filters asked for, by default the last 30 days to today."""
        end = date_to or clock.today()
        start = date_from or end - timedelta(days=30)
        if start > end:
            raise Invalid("date_from", f"is after date_to ({end})")
        if category is not None and category not in CATEGORIES:
            raise Invalid("category", f"must be one of {', '.join(CATEGORIES)}")
        return cls(start, end, category, region_kato)

    def params(self) -> dict[str, Any]:
        return {
            "start": self.date_from,
            "end": self.date_to,
            "today": self.date_to,
            "category": self.category,
            "region": self.region_kato,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "category": self.category,
            "region_kato": self.region_kato,
        }


@dataclass
class RegionFigures:
    kato: str
    names: dict[str, str]
    geometry: dict[str, Any]
    registered: int
    permits: int
    alerts: dict[str, int] = field(default_factory=dict)
    centre: tuple[float, float] = (0.0, 0.0)


@dataclass
class Cell:
    geometry: dict[str, Any]
    count: int
    verdicts: dict[str, int] | None = None
    i: int = 0  # the hexagon's column and row: ST_Hexagon(cell_m, i, j)
    j: int = 0


@dataclass
class Suppressed:
    cells: int
    count: int


@dataclass
class Monitoring:
    filters: Filters
    k: int
    cell_m: float
    data_date: date
    regions: list[RegionFigures]
    density: list[Cell]
    density_suppressed: Suppressed
    checks: list[Cell]
    checks_suppressed: Suppressed
    alerts_by_kind: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {
            "filters": self.filters.as_json(),
            "k": self.k,
            "cell_m": self.cell_m,
            "regions": len(self.regions),
            "registered": sum(r.registered for r in self.regions),
            "permits": sum(r.permits for r in self.regions),
            "density_period": [d.isoformat() for d in density_period(self.filters, self.data_date)],
            "density_cells": len(self.density),
            "density_suppressed": asdict(self.density_suppressed),
            "check_cells": len(self.checks),
            "checks_suppressed": asdict(self.checks_suppressed),
            "alerts_by_kind": self.alerts_by_kind,
        }


# Registrations in force at some time in the period, of the category and region asked for.
_REGISTERED = """
    SELECT r.person_id, r.region_kato, r.geom FROM registrations r
    JOIN persons p ON p.id = r.person_id
    WHERE r.valid_from <= :end
      AND (r.valid_to IS NULL OR r.valid_to >= :start)
      AND (r.ended_on IS NULL OR r.ended_on > :start)
      AND (CAST(:category AS varchar) IS NULL OR p.category = :category)
      AND (CAST(:region AS varchar) IS NULL OR r.region_kato = :region)
"""


def region_figures(session: Session, filters: Filters, tolerance: float) -> list[RegionFigures]:
    """Persons registered and permits in force (on the last day) per region."""
    rows = session.execute(
        text(
            f"""
            WITH registered AS (
                SELECT region_kato, count(DISTINCT person_id) AS n FROM ({_REGISTERED}) x
                GROUP BY region_kato
            ), permitted AS (
                SELECT m.region_kato, count(*) AS n FROM permits m
                JOIN persons p ON p.id = m.person_id
                WHERE {permit_was_in_force_sql("m")}
                  AND (CAST(:category AS varchar) IS NULL OR p.category = :category)
                  AND (CAST(:region AS varchar) IS NULL OR m.region_kato = :region)
                GROUP BY m.region_kato
            )
            SELECT g.kato, g.name_ru, g.name_kk, g.name_en,
                   ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, :tol), :d) AS geometry,
                   ST_Y(ST_PointOnSurface(g.geom)) AS lat, ST_X(ST_PointOnSurface(g.geom)) AS lon,
                   coalesce(r.n, 0) AS registered, coalesce(m.n, 0) AS permits
            FROM regions g
            LEFT JOIN registered r ON r.region_kato = g.kato
            LEFT JOIN permitted m ON m.region_kato = g.kato
            WHERE CAST(:region AS varchar) IS NULL OR g.kato = :region
            ORDER BY g.kato
            """
        ),
        {**filters.params(), "tol": tolerance, "d": GEOJSON_DIGITS},
    ).all()
    return [
        RegionFigures(
            kato=r.kato,
            names={"ru": r.name_ru, "kk": r.name_kk, "en": r.name_en},
            geometry=json.loads(r.geometry),
            registered=r.registered,
            permits=r.permits,
            centre=(round(r.lat, 4), round(r.lon, 4)),
        )
        for r in rows
    ]


def _cells(rows: list[Any], k: int) -> tuple[list[Cell], Suppressed]:
    kept = [r for r in rows if r.n >= k]
    hidden = [r for r in rows if r.n < k]
    return (
        [
            Cell(
                json.loads(r.geometry),
                r.n,
                {v: getattr(r, v) for v in CHECK_VERDICTS} if hasattr(r, "ok") else None,
                r.i,
                r.j,
            )
            for r in kept
        ],
        Suppressed(len(hidden), sum(r.n for r in hidden)),
    )


def density_period(filters: Filters, today: date | None = None) -> tuple[date, date]:
    """The one fixed period density is published for: an ISO week, Monday to Sunday.

    k-suppression per answer is undone by subtraction: the counts for one day and for
    the next, or for a period and the same period a day longer, differ by the persons
    of the difference, which may be one. So density is never counted for the days asked,
    but for the ISO week holding ``date_to`` — once that week is over; for a week still
    running, the last whole week before it (a running week's count would grow between
    two questions, person by person). Weeks do not overlap, so no two answers nest.
    """
    today = today or clock.today()
    monday = filters.date_to - timedelta(days=filters.date_to.weekday())
    this_monday = today - timedelta(days=today.weekday())
    if monday >= this_monday:
        monday = this_monday - timedelta(days=7)
    return monday, monday + timedelta(days=6)


def density(
    session: Session, filters: Filters, k: int, cell_m: float
) -> tuple[list[Cell], Suppressed]:
    """Persons registered in the published ISO week (:func:`density_period`) per hexagon;
    cells under k persons suppressed."""
    start, end = density_period(filters)
    rows = session.execute(
        text(
            f"""
            SELECT c[1] AS i, c[2] AS j, count(DISTINCT person_id) AS n,
                   ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_Hexagon(:s, c[1], c[2]), 3857), 4326),
                                :d) AS geometry
            FROM (SELECT person_id, qonys_hex_cell(ST_X(geom), ST_Y(geom), :s) AS c
                  FROM ({_REGISTERED}) x) cells
            GROUP BY c
            ORDER BY n DESC, i, j
            """
        ),
        {**filters.params(), "start": start, "end": end, "s": cell_m, "d": GEOJSON_DIGITS},
    ).all()
    return _cells(list(rows), k)


def check_activity(
    session: Session, filters: Filters, k: int, cell_m: float
) -> tuple[list[Cell], Suppressed]:
    """Officers' checks in the period per hexagon, with their verdicts; sparse cells hidden."""
    verdicts = ", ".join(f"count(*) FILTER (WHERE verdict = '{v}') AS {v}" for v in CHECK_VERDICTS)
    rows = session.execute(
        text(
            f"""
            SELECT c[1] AS i, c[2] AS j, count(*) AS n, {verdicts},
                   ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_Hexagon(:s, c[1], c[2]), 3857), 4326),
                                :d) AS geometry
            FROM (SELECT oc.verdict, qonys_hex_cell(ST_X(oc.geom), ST_Y(oc.geom), :s) AS c
                  FROM officer_checks oc
                  LEFT JOIN persons p ON p.id = oc.person_id
                  WHERE oc.geom IS NOT NULL
                    AND oc.checked_at >= CAST(:start AS date)
                    AND oc.checked_at < CAST(:end AS date) + 1
                    AND (CAST(:category AS varchar) IS NULL OR p.category = :category)
                    AND (CAST(:region AS varchar) IS NULL OR oc.region_kato = :region)) x
            GROUP BY c
            ORDER BY n DESC, i, j
            """
        ),
        {**filters.params(), "s": cell_m, "d": GEOJSON_DIGITS},
    ).all()
    return _cells(list(rows), k)


def open_alerts(session: Session, filters: Filters) -> dict[str, dict[str, int]]:
    """Alerts open now that were opened in the period: region → kind → count."""
    rows = session.execute(
        text(
            """
            SELECT coalesce(a.region_kato, '') AS region, a.kind, count(*) AS n FROM alerts a
            JOIN persons p ON p.id = a.person_id
            WHERE a.status = 'open'
              AND a.opened_at >= CAST(:start AS date) AND a.opened_at < CAST(:end AS date) + 1
              AND (CAST(:category AS varchar) IS NULL OR p.category = :category)
              AND (CAST(:region AS varchar) IS NULL OR a.region_kato = :region)
            GROUP BY 1, 2
            """
        ),
        filters.params(),
    ).all()
    found: dict[str, dict[str, int]] = {}
    for r in rows:
        found.setdefault(r.region, {})[r.kind] = r.n
    return found


def open_alerts_now(session: Session, region_kato: str | None = None) -> dict[str, dict[str, int]]:
    """Every alert open now, whenever it was opened: region → kind → count."""
    return open_alerts(session, Filters(date(2000, 1, 1), clock.today(), None, region_kato))


def by_kind(per_region: dict[str, dict[str, int]]) -> dict[str, int]:
    """Counts per kind in the listing order, ``sos`` first; kinds with none left out."""
    totals = {
        kind: sum(kinds.get(kind, 0) for kinds in per_region.values()) for kind in ALERT_ORDER
    }
    return {kind: n for kind, n in totals.items() if n}


def monitoring(
    session: Session, filters: Filters, k: int, cell_m: float, tolerance: float = 0.01
) -> Monitoring:
    regions = region_figures(session, filters, tolerance)
    alerts = open_alerts(session, filters)
    for region in regions:
        region.alerts = {kind: n for kind, n in by_kind({"": alerts.get(region.kato, {})}).items()}
    cells, hidden = density(session, filters, k, cell_m)
    checks, hidden_checks = check_activity(session, filters, k, cell_m)
    return Monitoring(
        filters=filters,
        k=k,
        cell_m=cell_m,
        data_date=clock.today(),
        regions=regions,
        density=cells,
        density_suppressed=hidden,
        checks=checks,
        checks_suppressed=hidden_checks,
        alerts_by_kind=by_kind(alerts),
    )
