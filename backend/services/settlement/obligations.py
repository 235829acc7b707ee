"""The family's 5-year obligation: support as paid, a suspected departure, the claim.

Leaving before the end means returning the support actually received up to that day
(docs/domain.md rule 6; seed 003 «обязана вернуть государству всю помощь»). Support is a ledger of
payments as they are made: relocation once at admission, the housing subsidy month by
month for the months granted (:func:`pay_due_subsidies`, run by a daily job).

Evidence of a departure (see :mod:`backend.services.events`) dates it — the first day of
a permanent registration elsewhere, or of a confirmed absence — and makes the obligation
*suspected*. The repayment is then a claim under the social contract: its lines are the
support paid up to the departure day; two different ``settlement_official`` accounts
issue it; it ends paid, contested or withdrawn::

    suspected → claim_issued → paid | contested | withdrawn
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
from backend.services.access.tokens import Principal
from backend.services.settlement.alert_evidence import rests_on_live_fixes

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

    @property
    def contract(self) -> SettlementObligation:
        return self.obligation

    @property
    def claim(self) -> SettlementObligation | None:
        return self.obligation if self.obligation.claim_status is not None else None


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
    """The MRP of ``day``'s year; a year without one refuses (never last year's)."""
    row = policy.in_force(session, "mrp", day)
    if row is None:
        raise policy.MissingValue("mrp", day)
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

    Month k (0-based) falls due on the admission day plus k months, for the months
    granted. Only an active (or unbound: admitted before the stay applied) obligation is
    paid: a suspected or breached one stops receiving. Idempotent: a unique index on
    (obligation, item, installment) keeps each month booked once.
    """
    on = on or clock.today()
    query = select(SettlementObligation).where(
        SettlementObligation.status.in_(("active", "unbound")),
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
            if due > on or (obligation.status == "active" and due >= obligation.ends_on):
                break
            if k + 1 in done:
                continue
            try:
                year, mrp_kzt = mrp_for(session, due)
            except policy.MissingValue as missing:
                if obligation_id is not None:
                    raise
                # The daily job pays every other family and tells the administrators.
                policy.record_gap(session, missing, "pay_subsidies")
                break
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
    session: Session,
    person_id: int,
    evidence: dict[str, Any],
    departed_on: date,
) -> SettlementObligation | None:
    """Evidence of a departure on ``departed_on`` before the end: the obligation is
    suspected and a claim awaits the officials; nothing is due yet.

    The subsidy stops while it is suspected. The rule is the one in force on the
    departure day; a departure before the stay began or after it ended is none.
    """
    obligation = active_obligation(session, person_id, lock=True)
    if obligation is not None:
        # Evidence dated before the admission (a registration backdated on entry) shows
        # the family away from the first day of the stay, not earlier.
        departed_on = max(departed_on, obligation.starts_on)
    if (
        obligation is None
        or not obligation.starts_on <= departed_on < obligation.ends_on
        or not owes_stay(session, obligation, departed_on)
    ):
        return None
    obligation.status = "suspected"
    obligation.claim_status = "suspected"
    obligation.departed_on = departed_on
    obligation.breach_detected_on = clock.today()
    obligation.breach_evidence = evidence
    obligation.amount_due_kzt = None
    obligation.claim_lines = None
    obligation.claim_issued_by = None
    obligation.claim_issued_at = None
    obligation.decision = None
    obligation.confirmation_by = None
    obligation.confirmation_reason = None
    obligation.confirmation_at = None
    session.flush()
    return obligation


def official_of(who: Principal) -> str:
    """The person behind a caller, for four-eyes checks: a token counts as its owner, a
    session as its account (:attr:`Principal.person`, the one home of that rule), so one
    official with two tokens, or a token and a session, is one official."""
    return who.person


def same_official(first: str, second: str) -> bool:
    """Whether two recorded officials are one person (the one place four eyes compare)."""
    return first == second


def claim_lines(
    session: Session, obligation: SettlementObligation, departed_on: date
) -> list[dict[str, Any]]:
    """The claim, line by line: each support payment made under the contract up to the
    departure day, as paid (MRP of its year and tenge)."""
    paid = session.scalars(
        select(SupportPayment)
        .where(
            SupportPayment.obligation_id == obligation.id,
            SupportPayment.paid_on <= departed_on,
        )
        .order_by(SupportPayment.paid_on, SupportPayment.id)
    )
    return [
        {
            "item": p.item,
            "paid_on": p.paid_on.isoformat(),
            "amount_mrp": None if p.amount_mrp is None else str(p.amount_mrp),
            "mrp_year": p.mrp_year,
            "amount_kzt": str(Decimal(p.amount_kzt).quantize(CENT)),
            "installment": p.installment,
        }
        for p in paid
    ]


# Decision -> (claim states it applies to, resulting claim state). ``confirm`` and
# ``dismiss`` are the words of the first API version.
CLAIM_MOVES = {
    "issue": (("suspected",), "claim_issued"),
    "confirm": (("suspected",), "claim_issued"),
    "withdraw": (("suspected", "claim_issued", "contested"), "withdrawn"),
    "dismiss": (("suspected", "claim_issued", "contested"), "withdrawn"),
    "paid": (("claim_issued", "contested"), "paid"),
    "contested": (("claim_issued",), "contested"),
}


def decide(
    session: Session, person_id: int, decision: str, reason: str, official: str
) -> SettlementObligation:
    """A settlement official moves the claim on (see :data:`CLAIM_MOVES`).

    Issuing takes two different officials (four eyes): the first ``issue`` is recorded
    and waits; a second official's makes the claim, its lines computed from the support
    paid up to the departure day. A withdrawal returns the family to its running stay.
    """
    if decision not in CLAIM_MOVES:
        raise Invalid("decision", f"must be one of {', '.join(CLAIM_MOVES)}")
    obligation = current_obligation(session, person_id, lock=True)
    allowed, result = CLAIM_MOVES[decision]
    if obligation.claim_status not in allowed:
        raise Conflict(
            f"a claim in state {obligation.claim_status or 'none'} cannot be {decision}: "
            f"only from {', '.join(allowed)}"
        )
    if result == "claim_issued":
        evidence = obligation.breach_evidence or {}
        if evidence.get("source") == "alert" and not rests_on_live_fixes(evidence.get("details")):
            raise Conflict(
                "the suspected departure rests on backfilled fixes only: no claim can rest on it"
            )
        if obligation.confirmation_by is None:
            obligation.confirmation_by = official
            obligation.confirmation_reason = reason
            obligation.confirmation_at = clock.now()
            session.flush()
            return obligation
        if same_official(obligation.confirmation_by, official):
            raise Conflict("a second settlement official must issue the claim, not the first again")
        departed = obligation.departed_on or obligation.breach_detected_on or clock.today()
        lines = claim_lines(session, obligation, departed)
        obligation.claim_lines = lines
        obligation.amount_due_kzt = sum(
            (Decimal(line["amount_kzt"]) for line in lines), Decimal(0)
        ).quantize(CENT)
        obligation.claim_issued_by = official
        obligation.claim_issued_at = clock.now()
        obligation.status = "breached"
    elif result == "withdrawn":
        obligation.status = "active" if clock.today() < obligation.ends_on else "fulfilled"
        obligation.amount_due_kzt = None
    obligation.claim_status = result
    obligation.decision = (
        "confirmed"
        if result == "claim_issued"
        else ("dismissed" if result == "withdrawn" else obligation.decision)
    )
    obligation.decision_reason = reason
    obligation.decided_by = official
    obligation.decided_at = clock.now()
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
