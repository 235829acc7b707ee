"""A repayment claim as a document an official signs and the family receives.

The claim is the social contract's consequence (seed 003: a family that leaves before
the five years «обязана вернуть государству всю помощь»): the contract, the departure
dated by its evidence, each support payment received up to that day, the total, and the
two officials who issued it. The page itself is a template in Russian or Kazakh.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from backend.errors import Conflict
from backend.models import Person, Region, Settlement, SettlementObligation

# Claims that exist as documents (a suspected departure is not yet a claim).
PRINTABLE = ("claim_issued", "paid", "contested")


@dataclass(frozen=True)
class ClaimDocument:
    obligation: SettlementObligation
    person: Person
    region: Region
    settlement: Settlement
    lines: list[dict[str, Any]]
    total_kzt: Decimal


def document(session: Session, obligation: SettlementObligation) -> ClaimDocument:
    """What the printed claim shows; refused until two officials have issued it."""
    if obligation.claim_status not in PRINTABLE:
        raise Conflict(
            f"no claim has been issued (state {obligation.claim_status or 'none'}): "
            "two settlement officials issue it first"
        )
    person = session.get(Person, obligation.person_id)
    region = session.get(Region, obligation.region_kato)
    settlement = session.get(Settlement, obligation.settlement_kato)
    assert person is not None and region is not None and settlement is not None
    lines = list(obligation.claim_lines or [])
    total = sum((Decimal(line["amount_kzt"]) for line in lines), Decimal(0))
    return ClaimDocument(obligation, person, region, settlement, lines, total)
