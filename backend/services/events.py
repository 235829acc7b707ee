"""What follows from a register event — the one place to read it.

A service records the event itself (a registration, a resolved alert, a termination
notice); its caller — the API view, the import job, the demo — then calls the matching
function here, in the same transaction. Nothing else reacts to these events, and no
service imports another to cause a side effect.

=============================================  ============================================
Event                                          Consequence
=============================================  ============================================
a *permanent* registration in another region  the settlement obligation is *suspected*,
than a settler's obligation                    with the registration as evidence
                                               (a temporary one is not a departure)
an official confirms a                         the same, with the alert as evidence
``left_settlement_region`` alert               (a long absence in the traces)
an employer files a termination notice after   a ``late_termination_notice`` alert for the
its deadline                                   permit's region
=============================================  ============================================
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend import clock
from backend.models import Alert, Permit, Registration, TerminationNotice
from backend.services import alert_rules, obligations


def registration_recorded(session: Session, registration: Registration) -> None:
    if registration.kind != "permanent":
        return  # a temporary stay elsewhere is a trip, not a departure (rule 6)
    obligation = obligations.active_obligation(session, registration.person_id)
    if obligation is not None and obligation.region_kato != registration.region_kato:
        obligations.suspect_breach(
            session,
            registration.person_id,
            {
                "source": "registration",
                "registration_id": registration.id,
                "region_kato": registration.region_kato,
            },
        )


def alert_resolved(session: Session, alert: Alert, reason: str, confirmed: bool) -> None:
    if confirmed and alert.kind == "left_settlement_region":
        obligations.suspect_breach(
            session,
            alert.person_id,
            {"source": "alert", "alert_id": alert.id, "details": alert.details, "reason": reason},
        )


def termination_notice_filed(session: Session, notice: TerminationNotice, permit: Permit) -> None:
    alert_rules.late_termination_notice(session, notice, permit, clock.today())
