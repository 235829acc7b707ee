"""The concept's indicators, each with its numerator, denominator, target and definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.models.permit import permit_in_force_sql
from backend.services.quotas import quota_fills
from backend.settings import Settings

YEARS = (2023, 2024, 2025, 2026, 2027)
SOURCE = "Concept of migration policy 2023-2027, table 1 (seed 002)"
# Table 1 targets by year (DOMAIN rule 7); shares as fractions.
TARGETS: dict[str, dict[int, float]] = {
    "external_migration_balance": dict(zip(YEARS, (-18.0, -12.3, -7.2, -3.1, 0.1), strict=True)),
    "qualified_arrivals_share": dict(zip(YEARS, (0.413, 0.435, 0.458, 0.472, 0.487), strict=True)),
    "internal_mobility_share": dict(zip(YEARS, (0.132, 0.137, 0.143, 0.150, 0.162), strict=True)),
    "kazakh_card_holders": dict(zip(YEARS, (5, 10, 15, 30, 40), strict=True)),
    "foreign_students_share": dict(zip(YEARS, (0.05, 0.055, 0.06, 0.08, 0.10), strict=True)),
    "investment_visas": dict(zip(YEARS, (5, 10, 15, 30, 40), strict=True)),
    "monitoring_coverage": dict(zip(YEARS, (0.10, 0.25, 0.50, 0.75, 0.95), strict=True)),
    "retention_3y": {2027: 0.97},
}
# Table 1 indicators the register has no data for: listed with their targets, not invented.
EXTERNAL = (
    ("external_migration_balance", "table 1 no. 1: external migration balance, thousand people"),
    ("qualified_arrivals_share", "table 1 no. 2: qualified share of working-age arrivals"),
    ("kazakh_card_holders", "table 1 no. 4: Kazakh Card holders, people"),
    ("foreign_students_share", "table 1 no. 5: foreign students' share"),
    ("investment_visas", "table 1 no. 6: investment visas issued, people"),
)
# A device counts for monitoring coverage when it reported within this many days.
REPORTED_WITHIN_DAYS = 7


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


def indicators(
    session: Session, settings: Settings, year: int, region_kato: str | None
) -> list[Indicator]:
    # The data as of the end of the year asked for, or as of today for the current year.
    as_of = min(date(year, 12, 31), clock.today())
    params = {
        "y": year,
        "region": region_kato,
        "start": date(year, 1, 1),
        "end": as_of,
        "today": as_of,
        "recent": as_of - timedelta(days=REPORTED_WITHIN_DAYS),
    }
    mobility = session.execute(
        text(
            """
            SELECT count(*) AS arrivals,
                   count(*) FILTER (WHERE r.region_kato = ANY(:ne)) AS to_north_east
            FROM registrations r
            WHERE r.kind = 'permanent' AND r.valid_from BETWEEN :start AND :end
              AND EXISTS (SELECT 1 FROM registrations p
                          WHERE p.person_id = r.person_id AND p.kind = 'permanent'
                            AND p.id <> r.id AND p.ended_on = r.valid_from
                            AND p.region_kato <> r.region_kato)
              AND (CAST(:region AS varchar) IS NULL OR r.region_kato = :region)
            """
        ),
        {**params, "ne": list(settings.north_east_regions)},
    ).one()
    coverage = session.execute(
        text(
            f"""
            WITH household AS (
                SELECT DISTINCT m.person_id FROM permits m
                JOIN persons p ON p.id = m.person_id AND p.category = 'labour_immigrant'
                LEFT JOIN employers e ON e.bin = m.employer_bin
                WHERE (m.employer_bin IS NULL OR e.kind = 'household')
                  AND {permit_in_force_sql("m")}
                  AND (CAST(:region AS varchar) IS NULL OR m.region_kato = :region)
            )
            SELECT count(*) AS total,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM api_tokens t
                       LEFT JOIN trace_last_positions l ON l.person_id = t.person_id
                       WHERE t.role = 'device' AND t.person_id = h.person_id
                         AND GREATEST(t.last_seen_at, l.recorded_at) >= :recent)) AS covered
            FROM household h
            """
        ),
        params,
    ).one()
    retention = session.execute(
        text(
            """
            SELECT count(*) AS started,
                   count(*) FILTER (WHERE NOT (
                       status = 'breached' AND decision IS DISTINCT FROM 'dismissed'
                       AND breach_detected_on < starts_on + interval '3 years')) AS stayed
            FROM settlement_obligations
            WHERE starts_on <= make_date(:y, 12, 31) - interval '3 years'
              AND (CAST(:region AS varchar) IS NULL OR region_kato = :region)
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
            mobility.to_north_east,
            mobility.arrivals,
            TARGETS["internal_mobility_share"].get(year),
            "Share of interregional arrivals (a new permanent registration in another region "
            "than the previous one) that go to the northern and eastern regions; 12.6 % in "
            "2021 (table 1, no. 3).",
        ),
        Indicator(
            "monitoring_coverage",
            coverage.covered,
            coverage.total,
            TARGETS["monitoring_coverage"].get(year),
            "Share of household labour immigrants (a permit in force without an employer) "
            f"whose phone reported within the last {REPORTED_WITHIN_DAYS} days; a device "
            "that never reports does not count (table 1, no. 7).",
        ),
        Indicator(
            "retention_3y",
            retention.stayed,
            retention.started,
            TARGETS["retention_3y"].get(year),
            "Share of kandas and resettler families admitted at least 3 years before the end "
            "of the year who had not left their settlement region within 3 years (a breach "
            "not dismissed); target 97 % by 2027 (concept, expected results).",
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
            TARGETS[name].get(year),
            f"{definition}; not in the register: reported by an external source",
            computed=False,
        )
        for name, definition in EXTERNAL
    ]
    return computed + external
