"""The family's 5-year obligation: support as paid, a suspected departure, the decision.

Leaving before the end means returning the support actually received up to that day
(docs/domain.md rule 6). Support is a ledger of payments as they are made: relocation once at
admission, the housing subsidy month by month (:func:`pay_due_subsidies`, run by a daily
job), never all twelve months up front. Evidence of a departure (see
:mod:`backend.services.events`) makes the obligation *suspected*; an official's decision
makes it *breached*, with the amount due, or dismisses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.clock import add_months
from backend.db import rowcount
from backend.errors import Conflict, Invalid, NotFound
from backend.models import SettlementApplication, SettlementObligation, SupportPayment
from backend.services import policy

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ObligationState:
    """An obligation with the support received, as shown to officials."""

    obligation: SettlementObligation
    support: list[SupportPayment]
    support_total_kzt: Decimal

    @property
    def if_left_today_kzt(self) -> Decimal | None:
        return self.support_total_kzt if self.obligation.status == "active" else None

    @property
    def breach(self) -> SettlementObligation | None:
        return self.obligation if self.obligation.breach_detected_on is not None else None


def current_obligation(
    session: Session, person_id: int, lock: bool = False
) -> SettlementObligation:
    query = (
        select(SettlementObligation)
        .where(SettlementObligation.person_id == person_id)
        .order_by(SettlementObligation.starts_on.desc(), SettlementObligation.id.desc())
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    obligation = session.scalars(query).first()
    if obligation is None:
        raise NotFound(f"no settlement obligation for person {person_id}")
    return obligation


def active_obligation(
    session: Session, person_id: int, lock: bool = False
) -> SettlementObligation | None:
    """The family's running obligation (active, not suspected), if any."""
    query = select(SettlementObligation).where(
        SettlementObligation.person_id == person_id, SettlementObligation.status == "active"
    )
    return session.scalars(query.with_for_update() if lock else query).first()


def state(session: Session, obligation: SettlementObligation) -> ObligationState:
    payments = list(
        session.scalars(
            select(SupportPayment)
            .where(SupportPayment.obligation_id == obligation.id)
            .order_by(SupportPayment.id)
        )
    )
    total = sum((Decimal(p.amount_kzt) for p in payments), Decimal(0))
    return ObligationState(obligation, payments, total.quantize(CENT))


def paid_up_to(session: Session, obligation: SettlementObligation, day: date) -> Decimal:
    """Support actually paid to the family up to and including ``day`` (003, rule 6)."""
    total = session.scalar(
        select(func.coalesce(func.sum(SupportPayment.amount_kzt), 0)).where(
            SupportPayment.obligation_id == obligation.id, SupportPayment.paid_on <= day
        )
    )
    return Decimal(total or 0).quantize(CENT)


def mrp_for(session: Session, day: date) -> tuple[int, Decimal]:
    """The MRP in force on ``day`` and the year it was set for."""
    row = policy.in_force(session, "mrp", day)
    if row is None:
        raise Invalid("year", f"no MRP value is in force on {day}")
    return row.effective_from.year, Decimal(str(row.value))


def owes_stay(session: Session, obligation: SettlementObligation, day: date) -> bool:
    """Whether leaving early costs this family its support (rule 6).

    Always for kandas (seed 003); for resettlers only while the policy parameter
    ``obligation_applies_to_resettlers`` (an assumption) says so.
    """
    category = session.scalar(
        select(SettlementApplication.category).where(
            SettlementApplication.id == obligation.application_id
        )
    )
    if category != "resettler":
        return True
    return bool(policy.value(session, "obligation_applies_to_resettlers", day))


def pay_due_subsidies(
    session: Session, on: date | None = None, obligation_id: int | None = None
) -> int:
    """Book every housing-subsidy month that has fallen due by ``on``; returns how many.

    Month k (0-based) falls due on the admission day plus k months. Only an active
    obligation is paid: a suspected or breached one stops receiving. Idempotent: a
    unique index on (obligation, item, installment) keeps each month booked once.
    """
    on = on or clock.today()
    query = select(SettlementObligation).where(
        SettlementObligation.status == "active",
        SettlementObligation.subsidy_months > 0,
    )
    if obligation_id is not None:
        query = query.where(SettlementObligation.id == obligation_id)
    booked = 0
    for obligation in session.scalars(query):
        done = set(
            session.scalars(
                select(SupportPayment.installment).where(
                    SupportPayment.obligation_id == obligation.id,
                    SupportPayment.item == "housing_subsidy",
                )
            )
        )
        rate = Decimal(obligation.subsidy_mrp_per_month or 0)
        for k in range(obligation.subsidy_months or 0):
            due = add_months(obligation.starts_on, k)
            if due > on or due >= obligation.ends_on:
                break
            if k + 1 in done:
                continue
            year, mrp_kzt = mrp_for(session, due)
            session.add(
                SupportPayment(
                    obligation_id=obligation.id,
                    person_id=obligation.person_id,
                    item="housing_subsidy",
                    amount_mrp=rate,
                    mrp_year=year,
                    amount_kzt=(rate * mrp_kzt).quantize(CENT, ROUND_HALF_UP),
                    details={"month": k + 1, "of": obligation.subsidy_months},
                    paid_on=due,
                    installment=k + 1,
                )
            )
            booked += 1
    session.flush()
    return booked


def suspect_breach(
    session: Session, person_id: int, evidence: dict[str, Any], on: date | None = None
) -> SettlementObligation | None:
    """Evidence of a departure before the end: the obligation is suspected, nothing is due yet.

    The subsidy stops while it is suspected; the amount is fixed by the decision.
    """
    on = on or clock.today()
    obligation = active_obligation(session, person_id, lock=True)
    if obligation is None or on >= obligation.ends_on or not owes_stay(session, obligation, on):
        return None
    obligation.status = "suspected"
    obligation.breach_detected_on = on
    obligation.breach_evidence = evidence
    obligation.amount_due_kzt = None
    obligation.decision = None
    obligation.confirmation_by = None
    obligation.confirmation_reason = None
    obligation.confirmation_at = None
    session.flush()
    return obligation


def decide(
    session: Session, person_id: int, decision: str, reason: str, actor: str
) -> SettlementObligation:
    """Administrators confirm a suspected departure (the amount becomes due) or dismiss it.

    Confirming takes two different administrators (separation of duties): the first
    confirmation is recorded and waits; the second one makes the breach. One dismissal
    is enough, and clears a waiting confirmation. Due = the support actually paid up to
    the day the departure was detected.
    """
    obligation = current_obligation(session, person_id, lock=True)
    if obligation.status != "suspected":
        raise Conflict("there is no suspected departure to decide on")
    if decision == "confirm" and obligation.confirmation_by is None:
        obligation.confirmation_by = actor
        obligation.confirmation_reason = reason
        obligation.confirmation_at = clock.now()
        session.flush()
        return obligation
    if decision == "confirm" and obligation.confirmation_by == actor:
        raise Conflict("a second administrator must confirm the breach, not the first one again")
    obligation.decision = "confirmed" if decision == "confirm" else "dismissed"
    obligation.decision_reason = reason
    obligation.decided_by = actor
    obligation.decided_at = clock.now()
    if decision == "confirm":
        obligation.status = "breached"
        detected = obligation.breach_detected_on or clock.today()
        obligation.amount_due_kzt = paid_up_to(session, obligation, detected)
    else:
        obligation.status = "active"
        obligation.amount_due_kzt = None
        obligation.confirmation_by = None
        obligation.confirmation_reason = None
        obligation.confirmation_at = None
    session.flush()
    return obligation


def settlement_region(session: Session, person_id: int) -> str | None:
    """The region a family must stay in, only while its obligation runs (rule 6).

    A kandas with no obligation (who chose residence on general terms, or whose five
    years are over) has no settlement region and gets no settlement alerts.
    """
    obligation = active_obligation(session, person_id)
    if obligation is None or not owes_stay(session, obligation, clock.today()):
        return None
    return obligation.region_kato


def fulfil_finished(session: Session, on: date | None = None) -> int:
    """Obligations whose five years passed without a breach are fulfilled."""
    result = session.execute(
        text(
            "UPDATE settlement_obligations SET status = 'fulfilled'"
            " WHERE status = 'active' AND ends_on <= :d"
        ),
        {"d": on or clock.today()},
    )
    return rowcount(result)
