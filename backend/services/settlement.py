"""Kandas and resettler settlement: quotas, yearly lists, admissions and the 5-year stay.

Admission is refused with a reason unless the region is designated (rule 1), the
settlement is on that year's list (rule 3) and the regional quota has room for the whole
family (rule 2). The quota row is locked while an admission counts it, so concurrent
applications can never overfill it. Admission fixes the place of arrival, starts the
family's 5-year obligation and records the support paid in MRP of the year.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from backend.errors import Conflict, Invalid, NotFound
from backend.models import (
    Employer,
    MrpValue,
    Person,
    Quota,
    Region,
    Settlement,
    SettlementApplication,
    SettlementListEntry,
    SettlementObligation,
    SupportPayment,
)
from backend.services.permits import add_months
from backend.settings import Settings

CATEGORIES = ("kandas", "resettler")
QUOTA_COLUMN = {"kandas": "kandas", "resettler": "resettlers"}
CENT = Decimal("0.01")


class Refused(Conflict):
    """An admission refused by a settlement rule; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.title = f"Refused: {reason}"


def _region(session: Session, kato: str) -> Region:
    region = session.get(Region, kato)
    if region is None:
        raise NotFound(f"region {kato} not found")
    return region


def quota_fill(session: Session, year: int, region_kato: str) -> dict[str, int]:
    rows = session.execute(
        select(
            SettlementApplication.category,
            func.coalesce(func.sum(SettlementApplication.family_size), 0),
        )
        .where(SettlementApplication.year == year, SettlementApplication.region_kato == region_kato)
        .group_by(SettlementApplication.category)
    ).all()
    fill = {"kandas": 0, "resettler": 0}
    fill.update({category: int(total) for category, total in rows})
    return fill


def quota_view(session: Session, year: int, region_kato: str) -> dict[str, Any]:
    _region(session, region_kato)
    quota = session.get(Quota, (year, region_kato))
    fill = quota_fill(session, year, region_kato)
    limits = {
        "kandas": quota.kandas if quota else 0,
        "resettlers": quota.resettlers if quota else 0,
    }
    return {
        "year": year,
        "region_kato": region_kato,
        "kandas": limits["kandas"],
        "resettlers": limits["resettlers"],
        "set": quota is not None,
        "fill": {"kandas": fill["kandas"], "resettlers": fill["resettler"]},
        "remaining": {
            "kandas": max(limits["kandas"] - fill["kandas"], 0),
            "resettlers": max(limits["resettlers"] - fill["resettler"], 0),
        },
    }


def set_quota(
    session: Session, year: int, region_kato: str, kandas: int, resettlers: int
) -> dict[str, Any]:
    region = _region(session, region_kato)
    if not region.designated_for_settlement and (kandas or resettlers):
        raise Invalid("region_kato", "the region is not designated for settlement")
    fill = quota_fill(session, year, region_kato)
    if kandas < fill["kandas"] or resettlers < fill["resettler"]:
        raise Conflict(
            f"already admitted {fill['kandas']} kandas and {fill['resettler']} resettlers"
        )
    quota = session.get(Quota, (year, region_kato), with_for_update=True)
    if quota is None:
        session.add(Quota(year=year, region_kato=region_kato, kandas=kandas, resettlers=resettlers))
    else:
        quota.kandas, quota.resettlers, quota.updated_at = kandas, resettlers, datetime.now(UTC)
    session.flush()
    return quota_view(session, year, region_kato)


def list_deadline(year: int, settings: Settings) -> date:
    month, day = settings.list_publication_day
    return date(year - 1, month, day)


def set_settlement_list(
    session: Session, year: int, region_kato: str, settlements: list[str], settings: Settings
) -> dict[str, Any]:
    """Replace the region's list for the year; every settlement must lie in the region."""
    region = _region(session, region_kato)
    if not region.designated_for_settlement and settlements:
        raise Invalid("region_kato", "the region is not designated for settlement")
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
    session.execute(
        delete(SettlementListEntry).where(
            SettlementListEntry.year == year, SettlementListEntry.region_kato == region_kato
        )
    )
    if unique:
        session.execute(
            insert(SettlementListEntry),
            [{"year": year, "region_kato": region_kato, "settlement_kato": k} for k in unique],
        )
    return settlement_list(session, year, region_kato, settings)


def settlement_list(
    session: Session, year: int, region_kato: str, settings: Settings
) -> dict[str, Any]:
    _region(session, region_kato)
    rows = session.execute(
        select(SettlementListEntry.settlement_kato, SettlementListEntry.published_at)
        .where(SettlementListEntry.year == year, SettlementListEntry.region_kato == region_kato)
        .order_by(SettlementListEntry.settlement_kato)
    ).all()
    published = max((r.published_at for r in rows), default=None)
    deadline = list_deadline(year, settings)
    return {
        "year": year,
        "region_kato": region_kato,
        "settlements": [r.settlement_kato for r in rows],
        "published_at": published,
        "deadline": deadline,
        "published_on_time": published is not None and published.date() <= deadline,
    }


def mrp(session: Session, year: int) -> Decimal:
    value = session.get(MrpValue, year)
    if value is None:
        raise Invalid("year", f"no MRP value recorded for {year}")
    return Decimal(value.kzt)


def _support(
    session: Session, data: dict[str, Any], year: int, family_size: int, settings: Settings
) -> list[dict[str, Any]]:
    """Support items paid at admission, in MRP of the year and in tenge (DOMAIN rule 5)."""
    mrp_kzt = mrp(session, year)
    support = data.get("support") or {}
    items = []
    relocation = Decimal(str(settings.relocation_mrp_per_member)) * family_size
    items.append(
        {"item": "relocation", "amount_mrp": relocation, "details": {"family_size": family_size}}
    )
    rate = support.get("housing_subsidy_mrp_per_month")
    if rate is not None:
        low, high = settings.housing_subsidy_mrp_min, settings.housing_subsidy_mrp_max
        if not low <= rate <= high:
            raise Invalid("support.housing_subsidy_mrp_per_month", f"must be {low:g}-{high:g} MRP")
        months = settings.housing_subsidy_months
        items.append(
            {
                "item": "housing_subsidy",
                "amount_mrp": Decimal(str(rate)) * months,
                "details": {"mrp_per_month": rate, "months": months},
            }
        )
    cost = support.get("housing_cost_kzt")
    employer = support.get("job_employer_bin")
    if cost is not None or employer is not None:
        if cost is None or employer is None:
            raise Invalid(
                "support", "a mobility certificate needs housing_cost_kzt and job_employer_bin"
            )
        if session.get(Employer, employer) is None:
            raise Invalid("support.job_employer_bin", f"employer {employer} is not registered")
        amount = (Decimal(str(cost)) * Decimal(str(settings.mobility_certificate_share))).quantize(
            CENT
        )
        items.append(
            {
                "item": "mobility_certificate",
                "amount_mrp": None,
                "amount_kzt": amount,
                "details": {
                    "housing_cost_kzt": cost,
                    "employer_bin": employer,
                    "share": settings.mobility_certificate_share,
                },
            }
        )
    for item in items:
        if item.get("amount_mrp") is not None:
            item["amount_kzt"] = (item["amount_mrp"] * mrp_kzt).quantize(CENT, ROUND_HALF_UP)
            item["mrp_year"] = year
    return items


def admit(
    session: Session, data: dict[str, Any], settings: Settings, today: date | None = None
) -> SettlementObligation:
    """Accept a kandas or resettler application within list and quota, or refuse it."""
    today = today or date.today()
    year = data.get("year") or today.year
    person = session.get(Person, data["person_id"])
    if person is None:
        raise Invalid("person_id", f"person {data['person_id']} does not exist")
    if person.category not in CATEGORIES:
        raise Invalid("person_id", f"a {person.category} is not admitted as kandas or resettler")
    settlement = session.get(Settlement, data["settlement_kato"])
    if settlement is None:
        raise Invalid("settlement_kato", f"unknown settlement {data['settlement_kato']}")
    region = _region(session, settlement.region_kato)
    if not region.designated_for_settlement:
        raise Refused("region_not_designated", f"{region.name_ru} is not designated for settlement")
    listed = session.get(SettlementListEntry, (year, settlement.kato))
    if listed is None:
        raise Refused(
            "settlement_not_listed", f"{settlement.name} is not on the {year} settlement list"
        )
    # Lock the quota row: concurrent admissions into the region queue up here.
    quota = session.scalars(
        select(Quota).where(Quota.year == year, Quota.region_kato == region.kato).with_for_update()
    ).first()
    if quota is None:
        raise Refused("quota_not_set", f"no {year} quota is set for {region.name_ru}")
    limit = getattr(quota, QUOTA_COLUMN[person.category])
    used = quota_fill(session, year, region.kato)[person.category]
    family = data["family_size"]
    if used + family > limit:
        raise Refused(
            "quota_exhausted",
            f"the {year} {person.category} quota of {region.name_ru} has {max(limit - used, 0)} "
            f"places left, the family needs {family}",
        )
    if session.scalar(
        select(func.count())
        .select_from(SettlementApplication)
        .where(SettlementApplication.person_id == person.id, SettlementApplication.year == year)
    ):
        raise Conflict(f"person {person.id} was already admitted in {year}")
    support = _support(session, data, year, family, settings)
    application = SettlementApplication(
        person_id=person.id,
        category=person.category,
        family_size=family,
        year=year,
        region_kato=region.kato,
        settlement_kato=settlement.kato,
    )
    session.add(application)
    session.flush()
    obligation = SettlementObligation(
        person_id=person.id,
        application_id=application.id,
        region_kato=region.kato,
        settlement_kato=settlement.kato,
        family_size=family,
        starts_on=today,
        ends_on=add_months(today, 12 * settings.obligation_years),
        status="active",
    )
    session.add(obligation)
    session.flush()
    for item in support:
        session.add(
            SupportPayment(
                obligation_id=obligation.id,
                item=item["item"],
                amount_mrp=item.get("amount_mrp"),
                mrp_year=item.get("mrp_year"),
                amount_kzt=item["amount_kzt"],
                details=item["details"],
                paid_on=today,
            )
        )
    session.flush()
    return obligation


def current_obligation(session: Session, person_id: int) -> SettlementObligation:
    obligation = session.scalars(
        select(SettlementObligation)
        .where(SettlementObligation.person_id == person_id)
        .order_by(SettlementObligation.starts_on.desc(), SettlementObligation.id.desc())
    ).first()
    if obligation is None:
        raise NotFound(f"no settlement obligation for person {person_id}")
    return obligation


def support_received(session: Session, obligation_id: int) -> list[SupportPayment]:
    return list(
        session.scalars(
            select(SupportPayment)
            .where(SupportPayment.obligation_id == obligation_id)
            .order_by(SupportPayment.id)
        )
    )


def amount_due(session: Session, obligation: SettlementObligation) -> Decimal:
    """Leaving before the end means returning all support received (003)."""
    total = session.scalar(
        select(func.coalesce(func.sum(SupportPayment.amount_kzt), 0)).where(
            SupportPayment.obligation_id == obligation.id
        )
    )
    return Decimal(total).quantize(CENT)


def mark_breach(
    session: Session, person_id: int, evidence: dict[str, Any], today: date | None = None
) -> SettlementObligation | None:
    """A departure before the end marks the obligation breached and computes what is due."""
    today = today or date.today()
    obligation = session.scalars(
        select(SettlementObligation)
        .where(SettlementObligation.person_id == person_id, SettlementObligation.status == "active")
        .with_for_update()
    ).first()
    if obligation is None or today >= obligation.ends_on:
        return None
    obligation.status = "breached"
    obligation.breach_detected_on = today
    obligation.breach_evidence = evidence
    obligation.amount_due_kzt = amount_due(session, obligation)
    obligation.decision = None
    session.flush()
    return obligation


def on_registration(
    session: Session, person_id: int, region_kato: str, registration_id: int
) -> None:
    """A registration in another region than the obligation's is evidence of leaving."""
    obligation = session.scalars(
        select(SettlementObligation).where(
            SettlementObligation.person_id == person_id, SettlementObligation.status == "active"
        )
    ).first()
    if obligation is not None and obligation.region_kato != region_kato:
        mark_breach(
            session,
            person_id,
            {
                "source": "registration",
                "registration_id": registration_id,
                "region_kato": region_kato,
            },
        )


def decide(
    session: Session, person_id: int, decision: str, reason: str, actor: str
) -> SettlementObligation:
    """An official confirms a breach (the amount is due) or dismisses it (obligation resumes)."""
    obligation = current_obligation(session, person_id)
    if obligation.status != "breached" or obligation.decision == "confirmed":
        raise Conflict("there is no unconfirmed breach to decide on")
    obligation.decision = "confirmed" if decision == "confirm" else "dismissed"
    obligation.decision_reason = reason
    obligation.decided_by = actor
    obligation.decided_at = datetime.now(UTC)
    if decision == "dismiss":
        obligation.status = "active"
        obligation.amount_due_kzt = None
    session.flush()
    return obligation


def obligation_view(session: Session, obligation: SettlementObligation) -> dict[str, Any]:
    payments = support_received(session, obligation.id)
    total = sum((Decimal(p.amount_kzt) for p in payments), Decimal(0))
    return {
        "person_id": obligation.person_id,
        "region_kato": obligation.region_kato,
        "settlement_kato": obligation.settlement_kato,
        "family_size": obligation.family_size,
        "starts_on": obligation.starts_on,
        "ends_on": obligation.ends_on,
        "status": obligation.status,
        "support": [
            {
                "item": p.item,
                "amount_mrp": p.amount_mrp,
                "mrp_year": p.mrp_year,
                "amount_kzt": p.amount_kzt,
                "paid_on": p.paid_on,
                "details": p.details,
            }
            for p in payments
        ],
        "support_total_kzt": total.quantize(CENT),
        "amount_due_kzt": obligation.amount_due_kzt,
        "if_left_today_kzt": total.quantize(CENT) if obligation.status == "active" else None,
        "breach": None
        if obligation.breach_detected_on is None
        else {
            "detected_on": obligation.breach_detected_on,
            "evidence": obligation.breach_evidence,
            "decision": obligation.decision,
            "reason": obligation.decision_reason,
            "decided_by": obligation.decided_by,
        },
    }


def fulfil_finished(session: Session, today: date | None = None) -> int:
    """Obligations whose five years passed without a breach are fulfilled."""
    result = session.execute(
        text(
            "UPDATE settlement_obligations SET status = 'fulfilled'"
            " WHERE status = 'active' AND ends_on <= :d"
        ),
        {"d": today or date.today()},
    )
    return result.rowcount or 0
