"""Issue 27: jobs that share the worker fairly, retry within their period after an
outage, and die with a killed worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job as RqJob
from rq.job import JobStatus
from sqlalchemy import text

from backend.jobs import alerts as alert_jobs
from backend.jobs.runner import (
    JOBS_KEY,
    MAINTENANCE,
    MAINTENANCE_TIMEOUT_S,
    PERIODIC,
    PUBSUB_READ_S,
    InProcessWorker,
    PeriodicScheduler,
    QonysWorker,
)
from backend.services.tracking import alert_rules
from tests import factories as f
from tests import helpers as h
from tests.fixtures import phones

SEAL = "backend.jobs.audit.seal_audit"
PID_KEY = "qonys:test:horse-pid"


def linger_and_tell(redis_url: str, seconds: float = 120) -> None:
    """A job that says which process runs it, then takes its time."""
    redis.Redis.from_url(redis_url).set(PID_KEY, os.getpid())
    time.sleep(seconds)


def _mark_dirty(db: Any, person_ids: list[int]) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO alert_dirty (person_id) SELECT unnest(CAST(:p AS bigint[]))"),
            {"p": person_ids},
        )


def _persons(client: Any, admin: Any, n: int) -> list[int]:
    return [f.person(client, admin)["id"] for _ in range(n)]


def test_a_slice_stops_at_its_budget_and_says_more_is_left(
    client: Any, admin: Any, db: Any, migrated: Any
) -> None:
    _mark_dirty(db, _persons(client, admin, 3))
    done, more = alert_rules.evaluate_slice(db, migrated, budget_s=0.0)
    assert (done, more) == (1, True)
    done, more = alert_rules.evaluate_slice(db, migrated, budget_s=None)
    assert (done, more) == (2, False)


def test_alert_evaluation_reenqueues_itself_behind_a_waiting_periodic_job(
    app: Any, client: Any, admin: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_jobs, "SLICE_S", 0.0)
    _mark_dirty(db, _persons(client, admin, 3))
    queue = app.extensions["qonys.queue"]
    evaluation = queue.enqueue("backend.jobs.alerts.evaluate_dirty")
    seal = queue.enqueue(SEAL)
    InProcessWorker([queue], connection=queue.connection).work(burst=True, max_jobs=1)
    assert evaluation.get_status(refresh=True) == JobStatus.FINISHED
    waiting = queue.job_ids
    # One slice done; the rest waits behind the audit seal, not ahead of it.
    assert waiting[0] == seal.id and len(waiting) == 2
    assert RqJob.fetch(waiting[1], connection=queue.connection).func_name.endswith("evaluate_dirty")
    h.run_jobs(app)
    assert h.count(db, "alert_dirty") == 0


def test_user_jobs_are_worked_before_alert_evaluation(
    app: Any, client: Any, token: Any, db: Any, admin: Any
) -> None:
    _mark_dirty(db, _persons(client, admin, 1))
    queue, users = app.extensions["qonys.queue"], app.extensions["qonys.user_queue"]
    evaluation = queue.enqueue("backend.jobs.alerts.evaluate_dirty")
    started = client.post("/api/v1/maps/kandas-settlement", json={}, headers=token("analyst"))
    assert started.status_code == 202
    job_id = started.get_json()["job_id"]
    assert job_id in users.job_ids and job_id not in queue.job_ids
    InProcessWorker([users, queue], connection=queue.connection).work(burst=True, max_jobs=1)
    assert RqJob.fetch(job_id, connection=queue.connection).get_status() == JobStatus.FINISHED
    assert evaluation.get_status(refresh=True) == JobStatus.QUEUED


def _worker(migrated: Any, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "worker", *args],
        env={**os.environ, "QONYS_QUEUE_NAME": migrated.queue_name, **env},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_periodic_job_that_failed_in_an_outage_is_retried_within_its_period(
    app: Any, migrated: Any
) -> None:
    queue = app.extensions["qonys.queue"]
    scheduler = PeriodicScheduler(queue.connection, queue.name, periodic=((SEAL, 300),))
    start = time.time()
    assert scheduler.tick(now=start) == [SEAL]
    first = queue.job_ids[0]
    gone = "postgresql://qonys:x@127.0.0.1:9/qonys"  # nothing listens: the outage
    outage = _worker(migrated, {"DATABASE_URL": gone, "QONYS_APP_DATABASE_URL": gone}, "--burst")
    outage.wait(timeout=120)
    assert RqJob.fetch(first, connection=queue.connection).get_status() == JobStatus.FAILED
    assert scheduler.tick(now=start + 1) == []  # the failure is seen; its backoff starts
    assert scheduler.tick(now=start + 20) == [SEAL]  # retried 20 s in, not 300 s
    retry = queue.job_ids[0]
    assert retry != first
    _worker(migrated, {}, "--burst").wait(timeout=120)
    assert RqJob.fetch(retry, connection=queue.connection).get_status() == JobStatus.FINISHED
    assert scheduler.tick(now=start + 200) == []  # done: nothing more until its period


def test_a_sigkilled_workers_running_job_dies_with_it(app: Any, migrated: Any) -> None:
    queue = app.extensions["qonys.queue"]
    conn = queue.connection
    queue.enqueue("tests.integration.test_worker_fairness.linger_and_tell", migrated.redis_url)
    worker = _worker(migrated, {}, "--burst")
    try:
        for _ in range(300):
            if conn.get(PID_KEY):
                break
            time.sleep(0.1)
        horse = int(conn.get(PID_KEY) or 0)
        assert horse and horse != worker.pid
    finally:
        os.kill(worker.pid, signal.SIGKILL)  # the worker alone, not its group
        worker.wait(timeout=10)
    for _ in range(100):
        if not _alive(horse):
            break
        time.sleep(0.1)
    assert not _alive(horse)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_periodic_jobs_run_while_phones_keep_sending(
    app: Any, monitored: dict, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steady phone traffic keeps marking persons dirty and kicking evaluations; the
    audit seal and the sweep the scheduler enqueued still run while the phones send.
    The phones send until the worker is done (however slow the machine), and the test
    asserts they went on sending while the worker worked."""
    monkeypatch.setattr(alert_jobs, "SLICE_S", 0.05)
    monkeypatch.setattr(alert_jobs.PHONE_KICKS, "seconds", 0.0)
    queue = app.extensions["qonys.queue"]
    stop, sent = threading.Event(), []

    def phone() -> None:
        local = app.test_client()
        moment = datetime.now(UTC) - timedelta(hours=2)
        while not stop.is_set():
            moment += timedelta(seconds=5)
            request = phones.traccar_android_legacy(monitored["secret"], moment)
            sent.append(phones.send(local, request).status_code)

    thread = threading.Thread(target=phone)
    thread.start()
    try:
        while not queue.job_ids and thread.is_alive():
            time.sleep(0.05)  # the phones' first kick is in the queue
        scheduler = PeriodicScheduler(
            queue.connection, queue.name, periodic=((SEAL, 300), ("backend.jobs.alerts.sweep", 300))
        )
        scheduler.tick()
        periodic = [j for j in queue.job_ids if j.startswith("periodic-")]
        worker = InProcessWorker([queue], connection=queue.connection)
        sent_before = len(sent)
        for _ in range(50):
            worker.work(burst=True, max_jobs=1)
            statuses = [RqJob.fetch(j, connection=queue.connection).get_status() for j in periodic]
            if all(s == JobStatus.FINISHED for s in statuses):
                break
        sent_while_working = len(sent) - sent_before
        phones_still_sending = thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert len(periodic) == 2 and statuses == [JobStatus.FINISHED] * 2
    assert phones_still_sending and sent_while_working > 0, (
        f"the phones stopped ({sent_while_working} sent while the worker worked)"
    )
    assert set(sent) == {200}, sorted(set(sent))


def test_a_worker_stops_its_command_listener_within_one_short_read(app: Any) -> None:
    """RQ's command listener read for 60 s at a time, and redis-py 8.2 waits for that read
    when the listener stops: each worker teardown (a burst's end, a restart after an
    outage, a shutdown) took up to a minute. Ours read for at most ``PUBSUB_READ_S``."""
    queue = app.extensions["qonys.queue"]
    for kind in (QonysWorker, InProcessWorker):
        worker = kind([queue], connection=queue.connection)
        worker.subscribe()
        assert worker.pubsub_thread.sleep_time == PUBSUB_READ_S == 1.0
        worker.unsubscribe()
        assert not worker.pubsub_thread.is_alive()


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_a_long_maintenance_job_holds_up_no_other_job(app: Any, migrated: Any) -> None:
    """Closing a day (CLUSTER, minutes on a national register), retention, the residence
    sweep and the audit walk ran on the one worker, and the audit seal, the outbox (an
    SOS's notification), credentials' status lists and users' jobs waited behind them.
    A real ``qonys worker``: with a maintenance job under way in the worker beside it,
    every other periodic job the scheduler enqueued runs; the maintenance ones wait for
    their own worker. SIGKILLed, the worker takes the maintenance worker and its job
    with it."""
    with _a_worker_with_a_long_maintenance_job(app, migrated) as (worker, lingering, horse):
        conn = lingering.connection
        maintenance = Queue(lingering.origin, connection=conn)
        beside = _parent_of(horse)
        assert beside != worker.pid and _parent_of(beside) == worker.pid

        def enqueued() -> dict[str, str]:
            return {k.decode(): json.loads(v)["id"] for k, v in conn.hgetall(JOBS_KEY).items()}

        def the_others_ended() -> bool:
            jobs = enqueued()
            others = [job for func, job in jobs.items() if func not in MAINTENANCE]
            ended = (JobStatus.FINISHED, JobStatus.FAILED)
            return len(jobs) == len(PERIODIC) and all(
                RqJob.fetch(job, connection=conn).get_status() in ended for job in others
            )

        h.wait_for(the_others_ended, timeout=180, every=0.5)
        assert lingering.get_status(refresh=True) == JobStatus.STARTED
        waiting = {job for func, job in enqueued().items() if func in MAINTENANCE}
        assert set(maintenance.job_ids) == waiting and len(waiting) == len(MAINTENANCE)
        timeouts = {RqJob.fetch(job, connection=conn).timeout for job in waiting}
        assert timeouts == {MAINTENANCE_TIMEOUT_S}  # not RQ's 180 s
        # Dead alone, the maintenance worker is started again (its job died with it);
        # the real maintenance jobs are taken off first, not to run on the test database.
        maintenance.empty()
        os.kill(beside, signal.SIGKILL)
        h.wait_for(lambda: not _alive(horse), timeout=10, every=0.1)
        h.wait_for(lambda: _maintenance_workers(worker.pid) - {beside}, timeout=30, every=0.2)
        (again,) = _maintenance_workers(worker.pid) - {beside}
    h.wait_for(lambda: not _alive(again), timeout=10, every=0.1)  # the worker was SIGKILLed


@contextmanager
def _a_worker_with_a_long_maintenance_job(
    app: Any, migrated: Any
) -> Iterator[tuple[subprocess.Popen[bytes], RqJob, int]]:
    """A real ``qonys worker`` whose maintenance worker runs a job of an hour (longer
    than any test waits): the worker, the job and the job's process. The worker, if it
    still runs at the end, is SIGKILLed alone, not its group."""
    conn = app.extensions["qonys.queue"].connection
    job = Queue(migrated.maintenance_queue_name, connection=conn).enqueue(
        "tests.integration.test_worker_fairness.linger_and_tell",
        migrated.redis_url,
        3600,
        job_timeout=7200,
    )
    worker = _worker(migrated, {}, "--tick", "3600")
    try:
        h.wait_for(lambda: conn.get(PID_KEY), timeout=60, every=0.1)
        yield worker, job, int(conn.get(PID_KEY) or 0)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)


def _maintenance_workers(parent: int) -> set[int]:
    """The live ``qonys worker --maintenance`` processes ``parent`` started."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
            if b"--maintenance" in argv and _parent_of(int(entry)) == parent:
                found.add(int(entry))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # gone meanwhile
    return found


def test_a_stopped_worker_stops_its_maintenance_worker(app: Any, migrated: Any) -> None:
    """SIGTERM (a service manager's stop, ``qonys up`` on Ctrl-C): the worker ends, and
    so does the maintenance worker beside it, a long job under way there included (asked
    to stop, then killed after its grace: the maintenance jobs are resumable)."""
    with _a_worker_with_a_long_maintenance_job(app, migrated) as (worker, job, horse):
        beside = _parent_of(horse)
        Queue(job.origin, connection=job.connection).empty()
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=120) == 0
    h.wait_for(lambda: not _alive(horse) and not _alive(beside), timeout=10, every=0.1)
