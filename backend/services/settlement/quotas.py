"""Regional quotas and yearly settlement lists — and the one definition of quota fill.

A quota counts people (family members), per category: ``kandas`` and ``resettlers``
(docs/domain.md rule 2). It is set for a year or for a medium-term period of up to five
years (seed 004 p. 4: «на среднесрочный период или предстоящий год»); a region's periods
never overlap. Fill is the sum of admitted family sizes over the quota's whole period;
headroom is what is left. Admission, zoning, indicators and the map all read
:func:`quota_fills`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Conflict, Invalid, NotFound
from backend.models import Quota, Region, Settlement, SettlementListEntry
from backend.services import policy

# Person category -> the quota column that counts it.
QUOTA_COLUMN = {"kandas": "kandas", "resettler": "resettlers"}
# The longest medium-term period, in years (the Concept's own horizon, 2023-2027).
LONGEST_PERIOD = 5


@dataclass(frozen=True)
class QuotaFill:
    """One region's quota in force in a year — a one-year quota or the period covering the
    year — with its limits and its fill over the whole period per quota column."""

    year: int
    region_kato: str
    set: bool
    limits: dict[str, int]
    fill: dict[str, int]
    from_year: int | None = None
    through_year: int | None = None

    @property
    def remaining(self) -> dict[str, int]:
        return {k: max(limit - self.fill[k], 0) for k, limit in self.limits.items()}

    @property
    def total_limit(self) -> int:
        return sum(self.limits.values())

    @property
    def total_fill(self) -> int:
        return sum(self.fill.values())

    @property
    def period(self) -> str:
        """The years the quota covers, as written in a message: 2026 or 2026-2028."""
        if self.from_year is None or self.through_year is None:
            return str(self.year)
        if self.from_year == self.through_year:
            return str(self.from_year)
        return f"{self.from_year}-{self.through_year}"

    @property
    def years(self) -> int:
        if self.from_year is None or self.through_year is None:
            return 1
        return self.through_year - self.from_year + 1

    def headroom_of(self, column: str) -> float:
        """Share of one category's quota still free (0 when none is set): rule 3."""
        limit = self.limits[column]
        return self.remaining[column] / limit if limit else 0.0


def quota_fills(
    session: Session, year: int, region_kato: str | None = None
) -> dict[str, QuotaFill]:
    """Every region's (or one region's) quota in force in ``year`` and its fill over the
    quota's period, in one query."""
    rows = session.execute(
        text(
            """
            WITH fills AS MATERIALIZED (
                -- Each region's admissions per year and category, from the years a
                -- period covering :y may span (one aggregate, pushed down on Citus).
                SELECT region_kato, year,
                       sum(family_size) FILTER (WHERE category = 'kandas') AS kandas,
                       sum(family_size) FILTER (WHERE category = 'resettler') AS resettlers
                FROM settlement_applications
                WHERE year BETWEEN :y - :span AND :y + :span
                GROUP BY region_kato, year
            )
            SELECT r.kato, q.year IS NOT NULL AS set, q.year AS from_year,
                   COALESCE(q.through_year, q.year) AS through_year,
                   COALESCE(q.kandas, 0) AS kandas, COALESCE(q.resettlers, 0) AS resettlers,
                   COALESCE(sum(a.kandas), 0) AS kandas_fill,
                   COALESCE(sum(a.resettlers), 0) AS resettler_fill
            FROM regions r
            LEFT JOIN quotas q ON q.region_kato = r.kato AND q.year <= :y
                AND COALESCE(q.through_year, q.year) >= :y
            LEFT JOIN fills a ON a.region_kato = r.kato
                AND a.year BETWEEN COALESCE(q.year, :y)
                               AND COALESCE(q.through_year, q.year, :y)
            WHERE CAST(:region AS varchar) IS NULL OR r.kato = :region
            GROUP BY r.kato, q.year, q.through_year, q.kandas, q.resettlers
            """
        ),
        {"y": year, "region": region_kato, "span": LONGEST_PERIOD - 1},
    ).all()
    return {
        row.kato: QuotaFill(
            year=year,
            region_kato=row.kato,
            set=bool(row.set),
            limits={"kandas": int(row.kandas), "resettlers": int(row.resettlers)},
            fill={"kandas": int(row.kandas_fill), "resettlers": int(row.resettler_fill)},
            from_year=row.from_year,
            through_year=row.through_year,
        )
        for row in rows
    }


def region(session: Session, kato: str) -> Region:
    found = session.get(Region, kato)
    if found is None:
        raise NotFound(f"region {kato} not found")
    return found


FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years a quota or a list may be set for


def check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid("year", f"must be {FIRST_YEAR}-{LAST_YEAR}")


def quota_fill(session: Session, year: int, region_kato: str) -> QuotaFill:
    check_year(year)
    region(session, region_kato)
    return quota_fills(session, year, region_kato)[region_kato]


def _region_quotas(session: Session, region_kato: str) -> list[Quota]:
    """The region's quota rows, locked: two administrators setting overlapping periods,
    or an admission counting one, queue up here."""
    return list(
        session.scalars(
            select(Quota)
            .where(Quota.region_kato == region_kato)
            .order_by(Quota.year)
            .with_for_update()
        )
    )


def set_quota(
    session: Session,
    year: int,
    region_kato: str,
    kandas: int,
    resettlers: int,
    through_year: int | None = None,
) -> QuotaFill:
    """Set the region's quota for ``year`` — or, with ``through_year``, for the
    medium-term period ``year``-``through_year`` (seed 004 p. 4) — replacing the quota
    that starts in ``year``. It may not overlap another period of the region, nor fall
    below what the period has already admitted."""
    # Any region may set a quota: intra-regional resettlement needs no designation (rule 2).
    check_year(year)
    region(session, region_kato)
    last = year if through_year is None else through_year
    if not year <= last <= year + LONGEST_PERIOD - 1:
        raise Invalid(
            "through_year",
            f"must be {year}-{year + LONGEST_PERIOD - 1} (a period of at most "
            f"{LONGEST_PERIOD} years)",
        )
    check_year(last)
    rows = _region_quotas(session, region_kato)
    for other in rows:
        other_last = other.through_year or other.year
        if other.year != year and other.year <= last and other_last >= year:
            raise Conflict(
                f"the {other.year}-{other_last} quota of region {region_kato} already "
                f"covers {max(year, other.year)}: change that one, or set a period outside it"
            )
    used = session.execute(
        text(
            """
            SELECT COALESCE(sum(family_size) FILTER (WHERE category = 'kandas'), 0) AS kandas,
                   COALESCE(sum(family_size) FILTER (WHERE category = 'resettler'), 0)
                       AS resettlers
            FROM settlement_applications
            WHERE region_kato = :r AND year BETWEEN :y AND :t
            """
        ),
        {"r": region_kato, "y": year, "t": last},
    ).one()
    if kandas < used.kandas or resettlers < used.resettlers:
        period = str(year) if last == year else f"{year}-{last}"
        raise Conflict(
            f"already admitted {used.kandas} kandas and {used.resettlers} resettlers in {period}"
        )
    quota = next((q for q in rows if q.year == year), None)
    if quota is None:
        quota = Quota(year=year, region_kato=region_kato)
        session.add(quota)
    quota.kandas, quota.resettlers = kandas, resettlers
    quota.through_year = None if last == year else last
    quota.updated_at = clock.now()
    session.flush()
    return quota_fill(session, year, region_kato)


def lock_quota(session: Session, year: int, region_kato: str) -> Quota | None:
    """Lock the quota in force in ``year`` (a one-year quota or the period covering it):
    concurrent admissions into the region queue up here."""
    return session.scalars(
        select(Quota)
        .where(
            Quota.region_kato == region_kato,
            Quota.year <= year,
            func.coalesce(Quota.through_year, Quota.year) >= year,
        )
        .with_for_update()
    ).first()


@dataclass(frozen=True)
class SettlementList:
    year: int
    region_kato: str
    settlements: list[str]
    published_at: datetime | None
    deadline: date

    @property
    def published_on_time(self) -> bool:
        return self.published_at is not None and self.published_at.date() <= self.deadline


def list_deadline(session: Session, year: int) -> date:
    """The day by which year ``year``'s list is due (15 December of the year before)."""
    month, day = (
        int(part)
        for part in policy.value(session, "list_deadline", date(year - 1, 1, 1)).split("-")
    )
    return date(year - 1, month, day)


def set_settlement_list(
    session: Session, year: int, region_kato: str, settlements: list[str]
) -> SettlementList:
    """Replace the region's list for the year; every settlement must lie in the region."""
    check_year(year)
    region(session, region_kato)  # any region may publish a list (rule 2)
    unique = sorted(set(settlements))
    known = dict(
        session.execute(
            select(Settlement.kato, Settlement.region_kato).where(Settlement.kato.in_(unique))
        ).all()
    )
    for kato in unique:
        if kato not in known:
            raise Invalid("settlements", f"unknown settlement {kato}")
        if known[kato] != region_kato:
            raise Invalid("settlements", f"settlement {kato} is in region {known[kato]}")
    # A list re-saved after its publication keeps the day it was first published (seed 004
    # p. 7: fixed by 15 December); a correction does not make it late.
    first = session.scalar(
        select(func.min(SettlementListEntry.published_at)).where(
            SettlementListEntry.year == year, SettlementListEntry.region_kato == region_kato
        )
    )
    session.execute(
        delete(SettlementListEntry).where(
            SettlementListEntry.year == year, SettlementListEntry.region_kato == region_kato
        )
    )
    if unique:
        session.execute(
            insert(SettlementListEntry),
            [
                {
                    "year": year,
                    "region_kato": region_kato,
                    "settlement_kato": k,
                    "published_at": first or clock.now(),
                }
                for k in unique
            ],
        )
    return settlement_list(session, year, region_kato)


def settlement_list(session: Session, year: int, region_kato: str) -> SettlementList:
    check_year(year)
    region(session, region_kato)
    rows = session.execute(
        select(SettlementListEntry.settlement_kato, SettlementListEntry.published_at)
        .where(SettlementListEntry.year == year, SettlementListEntry.region_kato == region_kato)
        .order_by(SettlementListEntry.settlement_kato)
    ).all()
    return SettlementList(
        year=year,
        region_kato=region_kato,
        settlements=[r.settlement_kato for r in rows],
        published_at=min((r.published_at for r in rows), default=None),
        deadline=list_deadline(session, year),
    )
