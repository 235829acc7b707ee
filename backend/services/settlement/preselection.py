"""Residence-permit pre-selection (docs/domain.md rule 13, seed 003).

The applicant's state-language test, questionnaire and interview are scored 0-100 and
weighed by ``preselection_weights``; the weighted score passes at
``preselection_threshold`` or above (both dated policy parameters, in force on the day of
the decision). Pre-selection exists from 2026 (seed 003 «С 2026 года»): before the day
its weights take effect it is refused as a rule not in force. Failing the security checks
refuses whatever the score. The decision is
stored with the parts, the weights and threshold used, and its reasons.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid, NotFound
from backend.models import Person, Preselection
from backend.services import policy

POINT = Decimal("0.01")


def decide(
    session: Session, data: dict[str, Any], actor: str, on: date | None = None
) -> Preselection:
    person = session.get(Person, data["person_id"])
    if person is None:
        raise Invalid("person_id", f"person {data['person_id']} does not exist")
    today = on or clock.today()
    weights = policy.optional(session, "preselection_weights", today)
    if weights is None:
        raise policy.NotInForce(
            f"residence-permit pre-selection is not in force on {today} (seed 003: from 2026)"
        )
    threshold = policy.number(session, "preselection_threshold", today)
    parts = {
        "language": data["language_score"],
        "questionnaire": data["questionnaire_score"],
        "interview": data["interview_score"],
    }
    score = sum(
        (
            Decimal(str(weights[name])) * Decimal(str(parts[name]))
            for name in policy.PRESELECTION_PARTS
        ),
        Decimal(0),
    ).quantize(POINT, ROUND_HALF_UP)
    reasons = []
    if not data["checks_passed"]:
        reasons.append("security_checks_failed")
    reasons.append("score_below_threshold" if score < threshold else "score_at_or_above_threshold")
    decision = "pass" if reasons == ["score_at_or_above_threshold"] else "fail"
    row = Preselection(
        person_id=person.id,
        parts={**parts, "checks_passed": data["checks_passed"]},
        weights=weights,
        threshold=threshold,
        score=score,
        decision=decision,
        reasons=reasons,
        decided_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def latest(session: Session, person_id: int) -> list[Preselection]:
    """Every pre-selection of the applicant, newest first."""
    found = list(
        session.scalars(
            select(Preselection)
            .where(Preselection.person_id == person_id)
            .order_by(Preselection.id.desc())
        )
    )
    if not found:
        raise NotFound(f"no pre-selection for person {person_id}")
    return found
