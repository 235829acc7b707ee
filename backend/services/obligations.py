"""The family's 5-year obligation: its state, a detected departure, the decision, the end.

Leaving before the end means returning the support received (DOMAIN rule 4); the amount
is computed when a breach is marked. What marks a breach (a registration elsewhere, a
confirmed alert) is decided in :mod:`backend.services.events`, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.db import rowcount
from backend.errors import Conflict, NotFound
from backend.models import Registration, SettlementObligation, SupportPayment

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


def current_obligation(session: Session, person_id: int) -> SettlementObligation:
    obligation = session.scalars(
        select(SettlementObligation)
        .where(SettlementObligation.person_id == person_id)
        .order_by(SettlementObligation.starts_on.desc(), SettlementObligation.id.desc())
    ).first()
    if obligation is None:
        raise NotFound(f"no settlement obligation for person {person_id}")
    return obligation


def active_obligation(
    session: Session, person_id: int, lock: bool = False
) -> SettlementObligation | None:
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


def amount_due(session: Session, obligation: SettlementObligation) -> Decimal:
    """Leaving before the end means returning all support received (003)."""
    total = session.scalar(
        select(func.coalesce(func.sum(SupportPayment.amount_kzt), 0)).where(
            SupportPayment.obligation_id == obligation.id
        )
    )
    return Decimal(total or 0).quantize(CENT)


def mark_breach(
    session: Session, person_id: int, evidence: dict[str, Any], on: date | None = None
) -> SettlementObligation | None:
    """A departure before the end marks the obligation breached and computes what is due."""
    on = on or clock.today()
    obligation = active_obligation(session, person_id, lock=True)
    if obligation is None or on >= obligation.ends_on:
        return None
    obligation.status = "breached"
    obligation.breach_detected_on = on
    obligation.breach_evidence = evidence
    obligation.amount_due_kzt = amount_due(session, obligation)
    obligation.decision = None
    session.flush()
    return obligation


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
    obligation.decided_at = clock.now()
    if decision == "dismiss":
        obligation.status = "active"
        obligation.amount_due_kzt = None
    session.flush()
    return obligation


def settlement_region(session: Session, person_id: int) -> str | None:
    """The region a kandas or resettler must stay in: the obligation's, else registration's."""
    obligation = active_obligation(session, person_id)
    if obligation is not None:
        return obligation.region_kato
    return session.scalar(
        select(Registration.region_kato).where(
            Registration.person_id == person_id,
            Registration.kind == "permanent",
            Registration.ended_on.is_(None),
        )
    )


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
