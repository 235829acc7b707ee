"""Jobs always finish: any exception, or a worker killed mid-job, ends the row ``failed``."""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.app import create_app
from backend.jobs.base import DEAD_JOB_MESSAGE, fail_abandoned, report, tracked
from backend.models import Job
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


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
    h.run_jobs(app)
    row = _row(db, job_id)
    assert row.status == "failed" and row.finished_at is not None
    assert job_id in (row.error or "") and "s3cr3t" not in (row.error or "")


def test_a_job_whose_worker_was_killed_is_marked_failed(app: Any, db: Any, migrated: Any) -> None:
    queue = app.extensions["qonys.queue"]
    job_id = _enqueue(app, db, linger, 60)
    worker = h.worker_process(migrated.redis_url, queue.name)
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


def test_the_launcher_records_audits_enqueues_and_answers_the_status_url(
    client: Any, token: Any, db: Any
) -> None:
    analyst = token("analyst")
    request_id = str(uuid.uuid4())
    resp = client.post(
        "/api/v1/maps/kandas-settlement",
        json={},
        headers={**analyst, "X-Request-Id": request_id},
    )
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status_url"] == f"/api/v1/jobs/{body['job_id']}"
    with db.transaction() as session:
        row = session.get(Job, body["job_id"])
        assert row is not None and row.status == "queued" and row.kind == "map.kandas-settlement"
        # The server's own request id is in the answer; the client's is kept apart.
        audited = session.execute(
            text("SELECT action, request_id FROM audit_log WHERE client_request_id = :r"),
            {"r": request_id},
        ).one()
    assert audited.action == "job.map.kandas-settlement"
    assert str(audited.request_id) == resp.headers["X-Request-Id"] != request_id
    status = client.get(body["status_url"], headers=analyst)
    assert status.status_code == 200 and status.get_json()["status"] == "queued"


def test_a_job_the_queue_cannot_take_fails_at_once_with_503(
    migrated: Any, token: Any, db: Any
) -> None:
    """Redis down: the caller gets a problem+json 503 and the row says failed, not queued."""
    app = create_app(replace(migrated, redis_url="redis://127.0.0.1:1/0"))
    client = app.test_client()
    resp = client.post("/api/v1/maps/kandas-settlement", json={}, headers=token("analyst"))
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    with db.transaction() as session:
        statuses = (
            session.execute(text("SELECT status FROM jobs WHERE kind = 'map.kandas-settlement'"))
            .scalars()
            .all()
        )
    assert statuses == ["failed"]
    app.extensions["qonys.db"].dispose()
