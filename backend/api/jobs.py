"""Background jobs a caller starts and polls: the one launcher, and the status endpoint.

Every user-visible job goes through :func:`launch`: it records the job row and the audit
entry in one transaction, enqueues the job only after that commit (so the worker always
finds its row), and answers ``202`` with the status URL. If the queue cannot take the job,
the row is marked ``failed`` at once and the caller gets a 503 — never a job that polls
``queued`` for ever. What happens to a job that raises, or whose worker dies, is
:mod:`backend.jobs.base`'s part.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import redis
from apiflask import APIBlueprint
from flask import current_app, url_for
from sqlalchemy.orm import Session

from backend import clock
from backend import schemas as s
from backend.api.context import auth, principal, record_access, transaction
from backend.errors import NotFound, Unavailable
from backend.models import Job
from backend.services.access.tokens import Principal

bp = APIBlueprint("jobs", __name__, url_prefix="/api/v1", tag="Jobs")


def launch(
    kind: str,
    func: str,
    *args: Any,
    params: dict[str, Any] | None = None,
    timeout: int = 600,
    prepare: Callable[[Session], str] | None = None,
) -> tuple[dict[str, str], int]:
    """Record, audit and enqueue job ``func(job_id or prepared id, *args)``; answer 202.

    ``prepare`` runs in the same transaction first (e.g. storing an upload) and returns
    the id the job is known by; otherwise a fresh UUID is used.
    """
    who = principal()
    with transaction() as session:
        job_id = prepare(session) if prepare else str(uuid.uuid4())
        session.add(
            Job(
                id=job_id,
                kind=kind,
                owner_token_id=None if who.user_id else who.token_id,
                owner_user_id=who.user_id,
                params=params or {},
            )
        )
        record_access(session, f"job.{kind}", [None])
    try:
        current_app.extensions["qonys.user_queue"].enqueue(
            func, job_id, *args, job_id=job_id, job_timeout=timeout
        )
    except redis.RedisError as exc:
        with transaction() as session:
            row = session.get(Job, job_id)
            if row is not None:
                row.status, row.error = "failed", "the job queue is unavailable; start it again"
                row.finished_at = clock.now()
        raise Unavailable("the job queue is unavailable; try again shortly") from exc
    return {"job_id": job_id, "status_url": url_for("jobs.job_status", job_id=job_id)}, 202


def _owns(who: Principal, job: Job) -> bool:
    """A job is its launcher's: the signed-in account, or the token."""
    if who.user_id is not None:
        return job.owner_user_id == who.user_id
    return job.owner_user_id is None and job.owner_token_id == who.token_id


@bp.get("/jobs/<job_id>")
@bp.auth_required(auth, roles=["admin", "analyst", "officer", "employer"])
@bp.output(s.JobOut)
@bp.doc(summary="A background job's status, progress and result (its owner only)")
def job_status(job_id: str) -> Any:
    with transaction() as session:
        job = session.get(Job, job_id) if len(job_id) <= 64 else None
        if job is None or not _owns(principal(), job):
            raise NotFound(f"job {job_id} not found")
        return job
