"""Scheduled settlement housekeeping."""

from __future__ import annotations

from backend.jobs.base import alerts_policy_gaps, job_database
from backend.services.settlement.obligations import fulfil_finished, pay_due_subsidies


@alerts_policy_gaps
def fulfil_obligations() -> int:
    """Mark obligations whose five years passed without a breach as fulfilled."""
    with job_database().transaction() as session:
        return fulfil_finished(session)


@alerts_policy_gaps
def pay_subsidies() -> int:
    """Book the housing-subsidy months that fell due (daily; idempotent)."""
    with job_database().transaction() as session:
        return pay_due_subsidies(session)
