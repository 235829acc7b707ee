"""Jobs always finish: any exception, or a worker killed mid-job, ends the row ``failed``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import SimpleWorker

from backend.jobs.base import DEAD_JOB_MESSAGE, fail_abandoned, report, tracked
from backend.models import Job


@tracked
def explode(secret: str) -> None:
    report(10)
    raise ValueError(f"internal detail {secret}")


@tracked
def linger(seconds: float) -> None:
    report(10)
    time.sleep(seconds)


def _enqueue(app: Any, db: Any, func: Any, *args: Any) -> str:
    queue = app.extensions["qonys.queue"]
    job = queue.enqueue(func, *args, job_timeout=120)
    with db.transaction() as session:
        session.add(Job(id=job.id, kind="test", status="queued", progress=0, params={}))
    return str(job.id)


def _row(db: Any, job_id: str) -> Job:
    with db.transaction() as session:
        row = session.get(Job, job_id)
        assert row is not None
        session.expunge(row)
        return row


def test_any_exception_ends_the_row_failed_with_a_safe_message(app: Any, db: Any) -> None:
    job_id = _enqueue(app, db, explode, "s3cr3t")
    queue = app.extensions["qonys.queue"]
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    row = _row(db, job_id)
    assert row.status == "failed" and row.finished_at is not None
    assert job_id in (row.error or "") and "s3cr3t" not in (row.error or "")


def test_a_job_whose_worker_was_killed_is_marked_failed(app: Any, db: Any, migrated: Any) -> None:
    queue = app.extensions["qonys.queue"]
    job_id = _enqueue(app, db, linger, 60)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "--burst",
            "--url",
            migrated.redis_url,
            queue.name,
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if _row(db, job_id).status == "started":
                break
            time.sleep(0.1)
        assert _row(db, job_id).status == "started"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse
        worker.wait(timeout=10)
    # Nothing writes the row now. RQ notices the lost heartbeat (at most ~90 s later; the
    # sweep is asked as of then), and the sweep ends the row.
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert fail_abandoned(db, queue.connection, queue.name, timedelta(0), later) == 1
    row = _row(db, job_id)
    assert row.status == "failed" and row.error == DEAD_JOB_MESSAGE
