"""Regional quotas and yearly settlement lists — and the one definition of quota fill.

A quota counts people (family members), per category: ``kandas`` and ``resettlers``
(docs/domain.md rule 2). Fill is the sum of admitted family sizes of the year; headroom is what
is left. Admission, zoning, indicators and the map all read :func:`quota_fills`.
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


@dataclass(frozen=True)
class QuotaFill:
    """One region's quota of a year: limits and fill per quota column (``QUOTA_COLUMN``)."""

    year: int
    region_kato: str
    set: bool
    limits: dict[str, int]
    fill: dict[str, int]

    @property
    def remaining(self) -> dict[str, int]:
        return {k: max(limit - self.fill[k], 0) for k, limit in self.limits.items()}

    @property
    def total_limit(self) -> int:
        return sum(self.limits.values())

    @property
    def total_fill(self) -> int:
        return sum(self.fill.values())

    def headroom_of(self, column: str) -> float:
        """Share of one category's quota still free (0 when none is set): rule 3."""
        limit = self.limits[column]
        return self.remaining[column] / limit if limit else 0.0


def quota_fills(
    session: Session, year: int, region_kato: str | None = None
) -> dict[str, QuotaFill]:
    """Every region's (or one region's) quota and fill of ``year``, in one query."""
    rows = session.execute(
        text(
            """
            SELECT r.kato, q.year IS NOT NULL AS set,
                   COALESCE(q.kandas, 0) AS kandas, COALESCE(q.resettlers, 0) AS resettlers,
                   COALESCE(sum(a.family_size) FILTER (WHERE a.category = 'kandas'), 0)
                       AS kandas_fill,
                   COALESCE(sum(a.family_size) FILTER (WHERE a.category = 'resettler'), 0)
                       AS resettler_fill
            FROM regions r
            LEFT JOIN quotas q ON q.region_kato = r.kato AND q.year = :y
            LEFT JOIN settlement_applications a ON a.region_kato = r.kato AND a.year = :y
            WHERE CAST(:region AS varchar) IS NULL OR r.kato = :region
            GROUP BY r.kato, q.year, q.kandas, q.resettlers
            """
        ),
        {"y": year, "region": region_kato},
    ).all()
    return {
        row.kato: QuotaFill(
            year=year,
            region_kato=row.kato,
            set=bool(row.set),
            limits={"kandas": int(row.kandas), "resettlers": int(row.resettlers)},
            fill={"kandas": int(row.kandas_fill), "resettlers": int(row.resettler_fill)},
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


def set_quota(
    session: Session, year: int, region_kato: str, kandas: int, resettlers: int
) -> QuotaFill:
    # Any region may set a quota: intra-regional resettlement needs no designation (rule 2).
    check_year(year)
    region(session, region_kato)
    quota = session.get(Quota, (year, region_kato), with_for_update=True)
    current = quota_fill(session, year, region_kato)
    if kandas < current.fill["kandas"] or resettlers < current.fill["resettlers"]:
        raise Conflict(
            f"already admitted {current.fill['kandas']} kandas and "
            f"{current.fill['resettlers']} resettlers"
        )
    if quota is None:
        session.add(Quota(year=year, region_kato=region_kato, kandas=kandas, resettlers=resettlers))
    else:
        quota.kandas, quota.resettlers, quota.updated_at = kandas, resettlers, clock.now()
    session.flush()
    return quota_fill(session, year, region_kato)


def set_quota_period(
    session: Session,
    year: int,
    through_year: int,
    region_kato: str,
    kandas: int,
    resettlers: int,
) -> QuotaFill:
    """A quota «на среднесрочный период» (seed 004 p. 4): the same yearly quota for each
    year from ``year`` through ``through_year``, set in one act; returns the first year."""
    if not year <= through_year <= year + 4:
        raise Invalid("through_year", f"must be {year}-{year + 4} (a medium-term period)")
    check_year(through_year)
    for each in range(through_year, year - 1, -1):
        first = set_quota(session, each, region_kato, kandas, resettlers)
    return first


def lock_quota(session: Session, year: int, region_kato: str) -> Quota | None:
    """Lock the quota row: concurrent admissions into the region queue up here."""
    return session.scalars(
        select(Quota).where(Quota.year == year, Quota.region_kato == region_kato).with_for_update()
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
