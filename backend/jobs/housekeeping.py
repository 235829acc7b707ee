"""Jobs about jobs: no status row is left ``started`` by a worker that died."""

from __future__ import annotations

import redis
from rq import get_current_job

from backend.jobs.base import fail_abandoned, job_database, job_settings
from backend.services import retention


def fail_abandoned_jobs() -> int:
    """Mark failed the rows of jobs whose worker died mid-way (RQ saw its heartbeat stop)."""
    job = get_current_job()
    connection = job.connection if job else redis.Redis.from_url(job_settings().redis_url)
    settings = job_settings()
    names = (settings.user_queue_name, settings.queue_name)
    return fail_abandoned(job_database(), connection, names)


def enforce_retention() -> dict[str, int]:
    """Every kind of personal data past its period goes (daily)."""
    with job_database().transaction() as session:
        return retention.enforce(session, job_settings())
