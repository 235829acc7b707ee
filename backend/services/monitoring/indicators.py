"""The concept's indicators, each with its numerator, denominator, target and definition."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.models.permit import permit_was_in_force_sql
from backend.services import policy
from backend.services.closing_days import being_closed, bounded_wait
from backend.services.settlement.quotas import quota_fills

SOURCE = "Concept of migration policy 2023-2027, table 1 (seed 002)"
# Table 1 indicators the register has no data for: listed with their targets, not invented.
EXTERNAL = (
    ("external_migration_balance", "table 1 no. 1: external migration balance, thousand people"),
    ("qualified_arrivals_share", "table 1 no. 2: qualified share of working-age arrivals"),
    ("kazakh_card_holders", "table 1 no. 4: Kazakh Card holders, people"),
    ("foreign_students_share", "table 1 no. 5: foreign students' share"),
    ("investment_visas", "table 1 no. 6: investment visas issued, people"),
)


@dataclass
class Mobility:
    """Interregional arrivals of a year: into the north and east, of all, per category."""

    arrived: int = 0
    arrivals: int = 0
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, category: str, arrived: int, arrivals: int) -> None:
        self.arrived += arrived
        self.arrivals += arrivals
        self.by_category[category] = {"numerator": arrived, "denominator": arrivals}


@dataclass(frozen=True)
class Indicator:
    name: str
    numerator: int | None
    denominator: int | None
    target: float | None
    definition: str
    source: str = SOURCE
    computed: bool = True  # False: the register has no data; an external source reports it
    breakdown: dict[str, dict[str, int]] | None = None  # per person category

    @property
    def value(self) -> float | None:
        if not self.computed or not self.denominator or self.numerator is None:
            return None
        return round(self.numerator / self.denominator, 4)


def target(session: Session, name: str, year: int) -> float | None:
    """The target of table 1 (or the expected results) in force for ``year``."""
    row = policy.in_force(session, f"target_{name}", date(year, 12, 31))
    # A target is set for a year: one set for an earlier year does not carry forward.
    return None if row is None or row.effective_from.year != year else float(row.value)


def indicators(session: Session, year: int, region_kato: str | None) -> list[Indicator]:
    """The indicators of one year (as of its end, or today for the current year)."""
    return series(session, [year], region_kato)[year]


def _years(session: Session, years: list[int]) -> list[dict[str, Any]]:
    """Per year: the day its data is as of, and the policy values in force then."""
    found = []
    for year in years:
        as_of = min(date(year, 12, 31), clock.today())
        within = policy.integer(session, "coverage_reported_within_days", as_of)
        recent = as_of - timedelta(days=within)
        found.append(
            {
                "year": year,
                "start": date(year, 1, 1).isoformat(),
                "as_of": as_of.isoformat(),
                "within": within,
                "recent": recent.isoformat(),
                # Raw points of the window (partitions pruned), then what retention kept.
                "recent_at": datetime.combine(recent, time(), clock.LOCAL_TZ).isoformat(),
                "until_at": datetime.combine(
                    as_of + timedelta(days=1), time(), clock.LOCAL_TZ
                ).isoformat(),
                "ne": policy.katos(session, "north_east_regions", as_of),
                "macro": policy.katos(session, "retention_macroregion", as_of),
            }
        )
    return found


# The years asked for, as rows a query joins: one scan of the register for all of them.
# A VALUES list (not json_to_recordset) so that the planner knows how many rows it holds.
_COLUMNS = (
    ("year", "int"),
    ("start", "date"),
    ("as_of", "date"),
    ("within", "int"),
    ("recent", "date"),
    ("recent_at", "timestamptz"),
    ("until_at", "timestamptz"),
    ("ne", "text[]"),
    ("macro", "text[]"),
)


def _years_sql(rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    values, params = [], {}
    for n, row in enumerate(rows):
        cells = []
        for name, kind in _COLUMNS:
            params[f"{name}{n}"] = row[name]
            cells.append(f"CAST(:{name}{n} AS {kind})")
        values.append(f"({', '.join(cells)})")
    names = ", ".join(name for name, _kind in _COLUMNS)
    return f"SELECT * FROM (VALUES {', '.join(values)}) AS y({names})", params


def series(
    session: Session, years: list[int], region_kato: str | None
) -> dict[int, list[Indicator]]:
    """The indicators of several years (a dashboard's trend) in one query per indicator."""
    rows = _years(session, years)
    years_sql, year_params = _years_sql(rows)
    today = clock.today()
    params = {
        **year_params,
        "region": region_kato,
        "now_day": today,
        "first": min(r["start"] for r in rows),
        "last": max(r["as_of"] for r in rows),
        # the recent window of the year still running, if asked for (heartbeats count)
        "recent_now": next((r["recent"] for r in rows if r["as_of"] == today.isoformat()), None),
    }
    # Interregional moves of the year: a new permanent registration in another region than
    # the one it replaced, by everyone who moved (table 1 no. 3: «от общего числа лиц, в
    # рамках межрегиональной миграции»): kandas and resettlers included — theirs is the
    # very flow the indicator shows — with a breakdown by category beside the total. With
    # a region: that region's arrivals among all the country's interregional arrivals.
    mobility: dict[int, Mobility] = {r["year"]: Mobility() for r in rows}
    for r in session.execute(
        text(
            f"""
            WITH y AS ({years_sql}), moves AS MATERIALIZED (
                -- (each person's moves on their own shard, then counted per year)
                SELECT r.region_kato, r.valid_from, who.category FROM registrations r
                JOIN persons who ON who.id = r.person_id
                WHERE r.kind = 'permanent'
                  AND r.valid_from BETWEEN CAST(:first AS date) AND CAST(:last AS date)
                  AND EXISTS (SELECT 1 FROM registrations p
                              WHERE p.person_id = r.person_id AND p.kind = 'permanent'
                                AND p.id <> r.id AND p.ended_on = r.valid_from
                                AND p.region_kato <> r.region_kato)
            )
            SELECT y.year, r.category, count(r.valid_from) AS arrivals,
                   count(r.valid_from) FILTER (WHERE CASE WHEN CAST(:region AS varchar) IS NULL
                                             THEN r.region_kato = ANY(y.ne)
                                             ELSE r.region_kato = :region END) AS arrived
            FROM y
            JOIN moves r ON r.valid_from BETWEEN y.start AND y.as_of
            GROUP BY y.year, r.category
            """
        ),
        params,
    ):
        mobility[r.year].add(r.category, int(r.arrived), int(r.arrivals))
    # The window's points through a join the planner cannot prune ahead: every partition
    # of trace_points is locked, a day the job is closing too (closing_days).
    conn = session.connection()
    with bounded_wait(conn, being_closed(conn), reading=True):
        coverage: dict[int, Any] = {
            r.year: r
            for r in session.execute(
                text(
                    f"""
                    WITH y AS ({years_sql}), contacted AS MATERIALIZED (
                        -- devices heard from lately (tokens stay on a Citus coordinator)
                        SELECT person_id FROM api_tokens
                        WHERE role = 'device' AND person_id IS NOT NULL
                          AND last_seen_at >= CAST(:recent_now AS date)
                    ), household AS MATERIALIZED (
                        -- each person's permits, points and presence on their own shard
                        SELECT DISTINCT y.year, m.person_id, (
                            EXISTS (
                                SELECT 1 FROM trace_points tp WHERE tp.person_id = m.person_id
                                  AND tp.recorded_at >= y.recent_at
                                  AND tp.recorded_at < y.until_at)
                            OR EXISTS (
                                SELECT 1 FROM daily_presence d
                                WHERE d.person_id = m.person_id
                                  AND d.day BETWEEN y.recent AND y.as_of)
                            OR (y.as_of = :now_day
                                AND m.person_id IN (SELECT person_id FROM contacted))
                        ) AS reported
                        FROM y
                        JOIN permits m ON {permit_was_in_force_sql("m", "y.as_of")}
                        JOIN persons p ON p.id = m.person_id AND p.category = 'labour_immigrant'
                        LEFT JOIN employers e ON e.bin = m.employer_bin
                        WHERE (m.employer_bin IS NULL OR e.kind = 'household')
                          AND (CAST(:region AS varchar) IS NULL OR m.region_kato = :region)
                    )
                    SELECT y.year, count(h.person_id) AS total,
                           count(h.person_id) FILTER (WHERE h.reported) AS covered
                    FROM y LEFT JOIN household h ON h.year = y.year
                    GROUP BY y.year
                    """
                ),
                params,
            )
        }
    return {
        row["year"]: _year_indicators(
            session, row, region_kato, mobility[row["year"]], coverage[row["year"]]
        )
        for row in rows
    }


def _year_indicators(
    session: Session, row: dict[str, Any], region_kato: str | None, mobility: Any, coverage: Any
) -> list[Indicator]:
    year, within = row["year"], row["within"]
    params = {"region": region_kato, "end": row["as_of"], "macro": row["macro"]}
    # Persons (every family member) admitted into the macroregion at least 3 years before
    # the end of the year, and how many of them still live there: their permanent
    # registration in force then lies in the macroregion, or, with none recorded, no
    # departure was confirmed.
    retention = session.execute(
        text(
            """
            SELECT coalesce(sum(o.family_size), 0) AS admitted,
                   coalesce(sum(o.family_size) FILTER (WHERE CASE
                       WHEN home.region_kato IS NOT NULL THEN home.region_kato = ANY(:macro)
                       ELSE NOT (o.status = 'breached' AND o.breach_detected_on <= :end)
                   END), 0) AS staying
            FROM settlement_obligations o
            -- the permanent registration in force at the end, on the person's shard
            LEFT JOIN (
                SELECT DISTINCT ON (g.person_id) g.person_id, g.region_kato
                FROM registrations g
                WHERE g.kind = 'permanent' AND g.valid_from <= :end
                  AND (g.ended_on IS NULL OR g.ended_on > :end)
                  AND g.person_id IN (
                      SELECT person_id FROM settlement_obligations
                      WHERE starts_on <= CAST(:end AS date) - interval '3 years')
                ORDER BY g.person_id, g.valid_from DESC) home ON home.person_id = o.person_id
            WHERE o.starts_on <= CAST(:end AS date) - interval '3 years'
              AND o.region_kato = ANY(:macro)
              AND (CAST(:region AS varchar) IS NULL OR o.region_kato = :region)
            """
        ),
        params,
    ).one()
    fills = quota_fills(session, year, region_kato).values()
    places = sum(f.total_limit for f in fills)
    admitted = sum(f.total_fill for f in fills)
    computed = [
        Indicator(
            "internal_mobility_share",
            mobility.arrived,
            mobility.arrivals,
            None if region_kato else target(session, "internal_mobility_share", year),
            (
                f"Share of the country's interregional arrivals in {year} that went to this "
                "region (its part of table 1, no. 3; the target is national)."
                if region_kato
                else "Share of interregional arrivals (a new permanent registration in another "
                "region than the previous one) that go to the northern and eastern regions; "
                "12.6 % in 2021 (table 1, no. 3)."
            )
            + " Everyone who moved counts, kandas and resettlers included; the breakdown "
            "gives each category's part.",
            breakdown=mobility.by_category,
        ),
        Indicator(
            "monitoring_coverage",
            coverage.covered,
            coverage.total,
            target(session, "monitoring_coverage", year),
            "Share of household labour immigrants (a permit in force without an employer) "
            f"whose phone reported within the last {within} days (a day with a location, or "
            "a heartbeat today); a device "
            "that never reports does not count (table 1, no. 7).",
        ),
        Indicator(
            "retention_3y",
            int(retention.staying),
            int(retention.admitted),
            target(session, "retention_3y", year),
            "Share of kandas and resettlers (persons: every family member) admitted into the "
            "northern and centre-east macroregion at least 3 years before the end of the year "
            "who still live in it: their permanent registration then lies in the macroregion "
            "(or, with none recorded, no departure was confirmed); target 97 % by 2027 "
            "(concept, expected results).",
        ),
        Indicator(
            "quota_fill",
            admitted,
            places,
            None,
            "People admitted (family members) against the year's regional quotas for kandas "
            "and resettlers (docs/domain.md rule 3).",
            source="Register: quotas and admissions",
        ),
    ]
    external = [
        Indicator(
            name,
            None,
            None,
            target(session, name, year),
            f"{definition}; not in the register: reported by an external source",
            computed=False,
        )
        for name, definition in EXTERNAL
    ]
    return computed + external
