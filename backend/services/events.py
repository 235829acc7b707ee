"""What follows from a register event — the one place to read it.

A service records the event itself (a registration, a resolved alert, a termination
notice); its caller — the API view, the import job, the demo — then calls the matching
function here, in the same transaction. Nothing else reacts to these events, and no
service imports another to cause a side effect.

=============================================  ============================================
Event                                          Consequence
=============================================  ============================================
a *permanent* registration in another region  the settlement obligation is *suspected*,
than a settler's obligation                    departed on the registration's valid_from
                                               (a temporary one is not a departure)
an official confirms a                         the same, departed on the first day of the
``left_settlement_region`` alert               confirmed absence (the alert's outside_since),
                                               refused when the absence rests on backfilled
                                               fixes alone (alert_evidence)
an employer files a termination notice after   a ``late_termination_notice`` alert for the
its deadline                                   permit's region
=============================================  ============================================

Every event also tells people and other systems, through the outbox, in the same
transaction (:mod:`backend.services.notify` says who hears what). An alert's opening is
told where alerts open, :func:`backend.services.alert_store.open_alert`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from backend import clock
from backend.models import (
    Alert,
    Permit,
    Person,
    PersonMerge,
    Registration,
    SettlementObligation,
    TerminationNotice,
)
from backend.services import alert_evidence, alert_rules, notify, obligations


def person_registered(session: Session, person: Person) -> None:
    notify.person_registered(session, person)


def permit_issued(session: Session, permit: Permit) -> None:
    notify.permit_issued(session, permit)


def permit_revoked(session: Session, permit: Permit) -> None:
    notify.permit_ended(session, permit)


def permits_expired(session: Session, permit_ids: list[int]) -> None:
    notify.permits_expired(session, permit_ids)


def registration_recorded(session: Session, registration: Registration) -> None:
    notify.registration_recorded(session, registration)
    if registration.kind != "permanent":
        return  # a temporary stay elsewhere is a trip, not a departure (rule 6)
    obligation = obligations.active_obligation(session, registration.person_id)
    if obligation is not None and obligation.region_kato != registration.region_kato:
        suspected = obligations.suspect_breach(
            session,
            registration.person_id,
            {
                "source": "registration",
                "registration_id": registration.id,
                "region_kato": registration.region_kato,
                "valid_from": registration.valid_from.isoformat(),
            },
            registration.valid_from,
        )
        if suspected is not None:
            notify.obligation_suspected(session, suspected)


def alert_resolved(session: Session, alert: Alert, reason: str, confirmed: bool) -> None:
    notify.alert_closed(session, alert)
    if confirmed and alert.kind == "left_settlement_region":
        alert_evidence.require_departure_evidence(alert)
        since = (alert.details or {}).get("outside_since")
        first_day = clock.today(
            datetime.fromisoformat(since) if isinstance(since, str) else alert.opened_at
        )
        suspected = obligations.suspect_breach(
            session,
            alert.person_id,
            {"source": "alert", "alert_id": alert.id, "details": alert.details, "reason": reason},
            first_day,
        )
        if suspected is not None:
            notify.obligation_suspected(session, suspected)


def termination_notice_filed(session: Session, notice: TerminationNotice, permit: Permit) -> None:
    alert_rules.late_termination_notice(session, notice, permit, clock.today())
    notify.permit_ended(session, permit, late_notice=notice.late)


def claim_decided(session: Session, obligation: SettlementObligation) -> None:
    notify.claim_decided(session, obligation)


def duplicate_merged(session: Session, merge: PersonMerge) -> None:
    notify.duplicate_merged(session, merge.survivor_id, merge.merged_id, merge.id)
