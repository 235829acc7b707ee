"""The register's use cases, and what follows from each event — the one place to read it.

Each use case records its event and runs the event's consequences, in the caller's
transaction: ``register_person``, ``record_registration``, ``issue_permit``,
``revoke_permit``, ``file_termination_notice``. The API, the pages, the import job and the
demo all call these, so none of them can forget a consequence. Events recorded elsewhere
(a resolved alert, expired permits) call the matching consequence function below. Nothing
else reacts to these events, and no service imports another to cause a side effect.

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
transaction (:mod:`backend.services.notify.notify` says who hears what). An alert's opening is
told where alerts open, :func:`backend.services.tracking.alert_store.open_alert`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
from backend.services.notify import notify
from backend.services.register import permits, persons, registrations
from backend.services.settlement import alert_evidence, obligations
from backend.services.tracking import alert_rules


def register_person(session: Session, data: dict[str, Any], is_demo: bool = False) -> Person:
    """Register a person (scored against the register for duplicates) and tell who hears."""
    person = persons.create_person(session, data, is_demo=is_demo)
    person_registered(session, person)
    return person


def record_registration(
    session: Session, data: dict[str, Any], source_key: str | None = None
) -> Registration:
    """Record a registration at a place of stay and run its consequences."""
    registration = registrations.create_registration(session, data, source_key=source_key)
    registration_recorded(session, registration)
    return registration


def issue_permit(session: Session, data: dict[str, Any], source_key: str | None = None) -> Permit:
    """Issue a labour-immigrant permit and tell who hears."""
    permit = permits.create_permit(session, data, source_key=source_key)
    permit_issued(session, permit)
    return permit


def revoke_permit(session: Session, permit_id: int) -> Permit:
    permit = permits.revoke_permit(session, permit_id)
    permit_revoked(session, permit)
    return permit


def file_termination_notice(
    session: Session, bin_: str, data: dict[str, Any]
) -> tuple[TerminationNotice, Permit]:
    """An employer's early-termination notice: ends the permit, flags a late notice."""
    notice, permit = permits.file_termination_notice(session, bin_, data)
    termination_notice_filed(session, notice, permit)
    return notice, permit


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
