"""The analysts' scheduled reports, on the worker's scheduler (hourly check)."""

from __future__ import annotations

from datetime import datetime

from backend import clock
from backend.jobs.base import alerts_policy_gaps, job_database
from backend.jobs.outbox import dispatch
from backend.services.monitoring import reports


@alerts_policy_gaps
def send_scheduled_reports(now: datetime | None = None) -> int:
    """Queue every report due this week or month; each goes once per period."""
    now = now or clock.now()
    with job_database().transaction() as session:
        users = reports.due(session, now)
        for user in users:
            reports.queue_report(session, user, now)
    if users:
        dispatch()  # sent now, not at the next periodic dispatch
    return len(users)
