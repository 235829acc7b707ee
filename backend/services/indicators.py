"""The concept's indicators, each with its numerator, denominator, target and definition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.models.permit import permit_in_force_sql
from backend.services.quotas import quota_fills
from backend.settings import Settings

# Monitoring coverage targets of the concept's table 1, no. 7.
MONITORING_TARGETS = {2023: 0.10, 2024: 0.25, 2025: 0.50, 2026: 0.75, 2027: 0.95}


@dataclass(frozen=True)
class Indicator:
    name: str
    numerator: int
    denominator: int
    target: float | None
    definition: str

    @property
    def value(self) -> float | None:
        return round(self.numerator / self.denominator, 4) if self.denominator else None


_indicator = Indicator


def indicators(
    session: Session, settings: Settings, year: int, region_kato: str | None
) -> list[Indicator]:
    params = {
        "y": year,
        "region": region_kato,
        "start": date(year, 1, 1),
        "end": date(year, 12, 31),
        "today": clock.today(),
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
                WHERE m.employer_bin IS NULL AND {permit_in_force_sql("m")}
                  AND (CAST(:region AS varchar) IS NULL OR m.region_kato = :region)
            )
            SELECT count(*) AS total,
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM api_tokens t WHERE t.role = 'device'
                         AND t.person_id = h.person_id AND t.revoked_at IS NULL)) AS covered
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
    return [
        _indicator(
            "internal_mobility_share",
            mobility.to_north_east,
            mobility.arrivals,
            0.162,
            "Share of interregional arrivals (a new permanent registration in another region "
            "than the previous one) that go to the northern and eastern regions; 12.6 % in "
            "2021, target 16.2 % in 2027 (concept table 1, no. 3).",
        ),
        _indicator(
            "monitoring_coverage",
            coverage.covered,
            coverage.total,
            MONITORING_TARGETS.get(year),
            "Share of household labour immigrants (a permit in force without an employer) "
            "covered by electronic monitoring, i.e. with an active device token (table 1, no. 7).",
        ),
        _indicator(
            "retention_3y",
            retention.stayed,
            retention.started,
            0.97,
            "Share of kandas and resettler families admitted at least 3 years before the end "
            "of the year who had not left their settlement region within 3 years (a breach "
            "not dismissed); target 97 % (concept, expected results).",
        ),
        _indicator(
            "quota_fill",
            admitted,
            places,
            None,
            "People admitted (family members) against the year's regional quotas for kandas "
            "and resettlers (DOMAIN rule 2).",
        ),
    ]
