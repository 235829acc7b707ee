"""Scheduled permit housekeeping."""

from __future__ import annotations

from backend.jobs.base import job_database
from backend.services.permits import expire_permits as expire


def expire_permits() -> int:
    """Mark permits whose validity has passed as expired; safe to run any number of times."""
    with job_database().transaction() as session:
        return expire(session)
