"""Rule 12: residence or citizenship after years of permanent residence in the region.

Seed 000: kandas receive «гражданства после определенного срока постоянного проживания
в данном регионе». The seeds give no number: ``eligibility_residence_years`` is a dated
assumption. Residence counts from the admission (the place of arrival is fixed there)
and restarts after each interruption: a permanent registration in another region, or a
departure an issued claim established. The years are those in force on the day
eligibility would begin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.clock import add_months
from backend.models import Registration
from backend.services import policy
from backend.services.settlement import obligations

PARAMETER = "eligibility_residence_years"
# An issued claim ends the residence that counted, on its departure day.
DEPARTED = ("claim_issued", "paid", "contested")


@dataclass(frozen=True)
class Eligibility:
    eligible_from: date | None
    years_counted: float
    interruptions: list[dict[str, Any]] = field(default_factory=list)
    rule: dict[str, Any] = field(default_factory=dict)


def eligibility(session: Session, person_id: int, today: date | None = None) -> Eligibility:
    """From when the family is eligible, the years counted today, and what broke the count."""
    today = today or clock.today()
    obligation = obligations.current_obligation(session, person_id)
    region = obligation.region_kato
    interruptions: list[dict[str, Any]] = []
    for reg in session.scalars(
        select(Registration)
        .where(
            Registration.person_id == person_id,
            Registration.kind == "permanent",
            Registration.region_kato != region,
            Registration.valid_from >= obligation.starts_on,
        )
        .order_by(Registration.valid_from)
    ):
        until = reg.ended_on or reg.valid_to
        interruptions.append(
            {
                "from": reg.valid_from.isoformat(),
                "until": None if until is None else until.isoformat(),
                "reason": "permanent_registration_elsewhere",
                "region_kato": reg.region_kato,
            }
        )
    if obligation.claim_status in DEPARTED and obligation.departed_on is not None:
        interruptions.append(
            {
                "from": obligation.departed_on.isoformat(),
                "until": None,
                "reason": "departure_claim_issued",
                "region_kato": None,
            }
        )
    interruptions.sort(key=lambda i: i["from"])
    run_start: date | None = obligation.starts_on
    for gap in interruptions:
        run_start = None if gap["until"] is None else date.fromisoformat(gap["until"])
    row = policy.in_force(session, PARAMETER, today)
    if row is None:
        raise policy.MissingValue(PARAMETER, today)
    years = int(row.value)
    rule = {
        "parameter": PARAMETER,
        "years": years,
        "source": row.source,
        "reference": row.reference,
        "effective_from": row.effective_from.isoformat(),
        "region_kato": region,
    }
    if run_start is None or run_start > today:
        return Eligibility(None, 0.0, interruptions, rule)
    counted = round((today - run_start).days / 365.25, 2)
    return Eligibility(add_months(run_start, 12 * years), counted, interruptions, rule)


def becoming_eligible(session: Session, year: int) -> int:
    """Families whose uninterrupted residence since admission reaches the years in force
    during ``year`` (the dashboard's count; interruptions by registration or claim)."""
    years = policy.optional(session, PARAMETER, date(year, 1, 1))
    if years is None:
        return 0
    return int(
        session.execute(
            text(
                """
                SELECT count(*) FROM settlement_obligations o
                WHERE o.status IN ('active', 'fulfilled', 'unbound')
                  AND (o.starts_on + make_interval(years => :n))::date
                      BETWEEN :first AND :last
                  AND NOT EXISTS (
                      SELECT 1 FROM registrations r
                      WHERE r.person_id = o.person_id AND r.kind = 'permanent'
                        AND r.region_kato <> o.region_kato AND r.valid_from >= o.starts_on)
                """
            ),
            {"n": int(years), "first": date(year, 1, 1), "last": date(year, 12, 31)},
        ).scalar_one()
    )
