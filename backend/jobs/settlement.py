"""Scheduled settlement housekeeping."""

from __future__ import annotations

from backend.jobs.base import job_database
from backend.services.obligations import fulfil_finished


def fulfil_obligations() -> int:
    """Mark obligations whose five years passed without a breach as fulfilled."""
    with job_database().transaction() as session:
        return fulfil_finished(session)
