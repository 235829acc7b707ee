"""The status lists, republished every minute when a permit or registration changed."""

from __future__ import annotations

from backend.jobs.base import job_database, job_settings
from backend.services.credentials import status_lists


def publish_status_lists() -> dict[str, bool]:
    """Sign and store each status list that changed; safe to run any number of times."""
    with job_database().transaction() as session:
        done = status_lists.publish(session, job_settings())
    return {item.name: item.changed for item in done}
