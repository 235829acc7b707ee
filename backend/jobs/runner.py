"""The worker process: an RQ worker plus a small scheduler for periodic jobs."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import redis
from rq import Queue, Worker

from backend.settings import Settings

log = logging.getLogger("qonys.worker")

# (dotted job function, interval in seconds). Each job is idempotent, so a second
# worker enqueueing the same slot does no harm.
PERIODIC: tuple[tuple[str, int], ...] = (
    ("backend.jobs.permits.expire_permits", 3600),
    ("backend.jobs.traces.maintain_partitions", 3600),
    ("backend.jobs.alerts.sweep", 300),
    ("backend.jobs.alerts.residence_sweep", 3600),
    ("backend.jobs.settlement.fulfil_obligations", 3600),
    ("backend.jobs.settlement.pay_subsidies", 3600),
    ("backend.jobs.housekeeping.fail_abandoned_jobs", 300),
    ("backend.jobs.housekeeping.enforce_retention", 3600),
    ("backend.jobs.audit.seal_audit", 300),
    ("backend.jobs.audit.verify_audit", 86400),
)


def _schedule_forever(queue: Queue, stop: threading.Event) -> None:
    last: dict[str, float] = {}
    while not stop.is_set():
        now = time.time()
        for func, interval in PERIODIC:
            if now - last.get(func, 0) >= interval:
                slot = datetime.now(UTC).strftime("%Y%m%d%H%M")
                queue.enqueue(func, job_id=f"periodic-{func.rsplit('.', 1)[-1]}-{slot}")
                last[func] = now
        stop.wait(30)


def run_worker(settings: Settings, burst: bool = False) -> None:
    # The worker gets a connection of its own: RQ raises its socket timeout above the
    # blocking dequeue's, which must not be shared with the scheduler thread's pool.
    conn = redis.Redis.from_url(settings.redis_url)
    worker = Worker([Queue(settings.queue_name, connection=conn)], connection=conn)
    stop = threading.Event()
    if not burst:
        scheduler_queue = Queue(
            settings.queue_name, connection=redis.Redis.from_url(settings.redis_url)
        )
        threading.Thread(
            target=_schedule_forever, args=(scheduler_queue, stop), daemon=True
        ).start()
    try:
        worker.work(burst=burst, with_scheduler=not burst)
    finally:
        stop.set()
