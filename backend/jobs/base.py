"""What every job shares: its own database handle and progress reporting."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, ParamSpec, TypeVar

from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job as RqJob
from rq.job import JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select, update

from backend.db import Database
from backend.dbroles import app_url
from backend.errors import QonysError
from backend.models import Job
from backend.services import policy
from backend.settings import Settings


@cache
def job_settings() -> Settings:
    return Settings.from_env()


@cache
def job_database() -> Database:
    return Database(app_url(job_settings()), pool_size=2)


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


log = logging.getLogger("qonys.jobs")
P = ParamSpec("P")
R = TypeVar("R")


def tracked(func: Callable[P, R]) -> Callable[P, R]:
    """Whatever a job raises, its status row ends ``failed`` with a message safe to show.

    A domain error's own detail is shown; anything else is logged in full and the row
    says only that the job failed, with its id to find the log line.
    """

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except QonysError as exc:
            finish(error=exc.detail)
            raise
        except Exception:
            job = get_current_job()
            log.exception("job %s failed", job.id if job else "?")
            finish(
                error=f"the job failed unexpectedly; see the worker log for job "
                f"{job.id if job else '?'}"
            )
            raise

    return run


def alerts_policy_gaps(func: Callable[P, R]) -> Callable[P, R]:
    """A scheduled job that needs a policy value with none in force for its day raises an
    admin alert (``policy_gaps``, listed by ``qonys policy show``; issue 24) and then fails
    as it would: it never computes with last year's value. Setting the value closes it."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except policy.MissingValue as missing:
            with job_database().transaction() as session:
                policy.record_gap(session, missing, func.__name__)
            raise

    run.alerts_policy_gaps = True  # type: ignore[attr-defined]
    return run


DEAD_JOB_MESSAGE = "the worker stopped during the job; start it again"


def fail_abandoned(
    database: Database,
    connection: Any,
    queue_name: str | tuple[str, ...],
    grace: timedelta = timedelta(minutes=2),
    now: datetime | None = None,
) -> int:
    """Mark ``failed`` every job row whose RQ job is gone, failed or abandoned.

    A worker killed mid-job never writes its row: RQ's started registry notices the dead
    worker (its cleanup moves the job to failed), and this marks the row so that a
    client polling the status sees the end.
    """
    now = now or datetime.now(UTC)
    for name in (queue_name,) if isinstance(queue_name, str) else queue_name:
        StartedJobRegistry(name, connection=connection).cleanup(timestamp=now.timestamp())
    cutoff = now - grace
    with database.transaction() as session:
        rows = session.scalars(
            select(Job).where(Job.status.in_(("queued", "started")), Job.created_at < cutoff)
        ).all()
        failed = 0
        for row in rows:
            try:
                status = RqJob.fetch(row.id, connection=connection).get_status()
            except NoSuchJobError:
                status = None
            if status in (None, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                row.status, row.error = "failed", DEAD_JOB_MESSAGE
                row.finished_at = datetime.now(UTC)
                failed += 1
    return failed


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
