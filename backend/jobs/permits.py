"""Scheduled permit housekeeping and reminders of deadlines."""

from __future__ import annotations

from backend.jobs.base import alerts_policy_gaps, job_database, job_settings
from backend.jobs.outbox import dispatch
from backend.services import events
from backend.services.notify import notify
from backend.services.register.permits import expire_permits as expire


@alerts_policy_gaps
def expire_permits() -> int:
    """Mark permits whose validity has passed as expired; safe to run any number of times."""
    with job_database().transaction() as session:
        expired = expire(session)
        events.permits_expired(session, expired)
    if expired:
        dispatch()  # their webhooks now, not at the next periodic dispatch
    return len(expired)


@alerts_policy_gaps
def remind_permit_expiry() -> int:
    """Tell employers of permits ending in ``notify_permit_expiry_days`` (once each)."""
    with job_database().transaction() as session:
        told = notify.permit_expiry_reminders(session, job_settings().notify_permit_expiry_days)
    if told:
        dispatch()
    return told


def remind_registration_deadline() -> int:
    """Tell the contacts given for an arrival not yet registered, the working day(s)
    ``notify_registration_days`` before the registration deadline (once per case)."""
    with job_database().transaction() as session:
        told = notify.registration_deadline_reminders(
            session, job_settings().notify_registration_days
        )
    if told:
        dispatch()
    return told
