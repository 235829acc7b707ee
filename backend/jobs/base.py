"""What every job shares: its own database handle and progress reporting."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from rq import get_current_job
from sqlalchemy import update

from backend.db import Database
from backend.models import Job
from backend.settings import Settings


@cache
def job_settings() -> Settings:
    return Settings.from_env()


@cache
def job_database() -> Database:
    return Database(job_settings().database_url, pool_size=2)


def report(progress: int, **meta: Any) -> None:
    """Record progress (0-100) in ``job.meta`` and in the job's status row."""
    job = get_current_job()
    if job is None:
        return
    job.meta.update(progress=progress, **meta)
    job.save_meta()
    with job_database().transaction() as session:
        session.execute(
            update(Job).where(Job.id == job.id).values(status="started", progress=progress)
        )


def finish(result: dict[str, Any] | None = None, error: str | None = None) -> None:
    job = get_current_job()
    if job is None:
        return
    with job_database().transaction() as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status="failed" if error else "finished",
                progress=100 if not error else Job.progress,
                result=result,
                error=error[:2000] if error else None,
                finished_at=datetime.now(UTC),
            )
        )
