"""The concept's indicators, each with its numerator, denominator, target and definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.models.permit import permit_was_in_force_sql
from backend.services import policy
from backend.services.quotas import quota_fills

SOURCE = "Concept of migration policy 2023-2027, table 1 (seed 002)"
# Table 1 indicators the register has no data for: listed with their targets, not invented.
EXTERNAL = (
    ("external_migration_balance", "table 1 no. 1: external migration balance, thousand people"),
    ("qualified_arrivals_share", "table 1 no. 2: qualified share of working-age arrivals"),
    ("kazakh_card_holders", "table 1 no. 4: Kazakh Card holders, people"),
    ("foreign_students_share", "table 1 no. 5: foreign students' share"),
    ("investment_visas", "table 1 no. 6: investment visas issued, people"),
)


@dataclass(frozen=True)
class Indicator:
    name: str
    numerator: int | None
    denominator: int | None
    target: float | None
    definition: str
    source: str = SOURCE
    computed: bool = True  # False: the register has no data; an external source reports it

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
    # The data as of the end of the year asked for, or as of today for the current year.
    as_of = min(date(year, 12, 31), clock.today())
    within = policy.integer(session, "coverage_reported_within_days", as_of)
    params = {
        "y": year,
        "region": region_kato,
        "start": date(year, 1, 1),
        "end": as_of,
        "today": as_of,
        "recent": as_of - timedelta(days=within),
        "now_day": clock.today(),
        # Raw points of the window (partitions pruned), then what retention kept of them.
        "recent_at": datetime.combine(as_of - timedelta(days=within), time(), clock.LOCAL_TZ),
        "until_at": datetime.combine(as_of + timedelta(days=1), time(), clock.LOCAL_TZ),
        "ne": policy.katos(session, "north_east_regions", as_of),
        "macro": policy.katos(session, "retention_macroregion", as_of),
    }
    # Interregional moves of the year: a new permanent registration in another region than
    # the one it replaced. Kandas and resettlers, whom the register follows far more closely
    # than the population at large, are left out so they do not inflate the share. With a
    # region: that region's arrivals among all the country's interregional arrivals.
    mobility = session.execute(
        text(
            """
            SELECT count(*) AS arrivals,
                   count(*) FILTER (WHERE CASE WHEN CAST(:region AS varchar) IS NULL
                                               THEN r.region_kato = ANY(:ne)
                                               ELSE r.region_kato = :region END) AS arrived
            FROM registrations r
            JOIN persons who ON who.id = r.person_id
                             AND who.category NOT IN ('kandas', 'resettler')
            WHERE r.kind = 'permanent' AND r.valid_from BETWEEN :start AND :end
              AND EXISTS (SELECT 1 FROM registrations p
                          WHERE p.person_id = r.person_id AND p.kind = 'permanent'
                            AND p.id <> r.id AND p.ended_on = r.valid_from
                            AND p.region_kato <> r.region_kato)
            """
        ),
        params,
    ).one()
    coverage = session.execute(
        text(
            f"""
            WITH household AS (
                SELECT DISTINCT m.person_id FROM permits m
                JOIN persons p ON p.id = m.person_id AND p.category = 'labour_immigrant'
                LEFT JOIN employers e ON e.bin = m.employer_bin
                WHERE (m.employer_bin IS NULL OR e.kind = 'household')
                  AND {permit_was_in_force_sql("m")}
                  AND (CAST(:region AS varchar) IS NULL OR m.region_kato = :region)
            )
            SELECT count(*) AS total,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM trace_points tp WHERE tp.person_id = h.person_id
                         AND tp.recorded_at >= :recent_at AND tp.recorded_at < :until_at)
                     OR EXISTS (
                       SELECT 1 FROM daily_presence d
                       WHERE d.person_id = h.person_id AND d.day BETWEEN :recent AND :today)
                     OR (CAST(:today AS date) = :now_day AND EXISTS (
                       SELECT 1 FROM api_tokens t
                       WHERE t.role = 'device' AND t.person_id = h.person_id
                         AND t.last_seen_at >= :recent))) AS covered
            FROM household h
            """
        ),
        params,
    ).one()
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
            LEFT JOIN LATERAL (
                SELECT g.region_kato FROM registrations g
                WHERE g.person_id = o.person_id AND g.kind = 'permanent'
                  AND g.valid_from <= :end AND (g.ended_on IS NULL OR g.ended_on > :end)
                ORDER BY g.valid_from DESC LIMIT 1) home ON true
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
            + " Citizens' moves only: kandas and resettlers are left out.",
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
            "and resettlers (DOMAIN rule 3).",
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
