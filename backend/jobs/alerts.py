"""Alert evaluation jobs: after ingestion (per person) and the scheduled sweep."""

from __future__ import annotations

import threading
import time
from typing import Any

from rq import get_current_job

from backend.jobs.base import job_database, job_settings
from backend.services import alert_rules, residence

KICK_KEY = "qonys:alerts:kick"
# If no worker picks the job up, let a later batch enqueue another after this long.
KICK_TTL_S = 120


def evaluate_dirty() -> int:
    """Evaluate every person whose traces changed since their last evaluation.

    The kick key is released first: a batch arriving while this job runs enqueues the
    next evaluation, while batches arriving before it started are covered by this one.
    """
    job = get_current_job()
    if job is not None:
        job.connection.delete(KICK_KEY)
    return alert_rules.evaluate_dirty(job_database(), job_settings())


def sweep() -> dict[str, Any]:
    """The scheduled sweep: leftovers of ingestion, then silent devices."""
    evaluated = alert_rules.evaluate_dirty(job_database(), job_settings())
    with job_database().transaction() as session:
        silent = alert_rules.sweep_silent_devices(session)
    return {"evaluated": evaluated, "silent_device": silent}


def residence_sweep() -> int:
    """Compare where monitored persons spend nights with their registered address."""
    return residence.sweep_residence(job_database(), job_settings())


class KickDebounce:
    """Phones send one point per request: a process that kicked within the last second
    does not ask Redis again. The evaluation job drains every mark it finds until none is
    left, so a skipped kick only waits for the next one (or the 5-minute sweep)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self._last = -1e9
        self._lock = threading.Lock()

    def due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.seconds:
                return False
            self._last = now
            return True


PHONE_KICKS = KickDebounce()


def kick(redis_conn: Any, queue: Any) -> bool:
    """Enqueue an evaluation unless one is already waiting in the queue."""
    if redis_conn.set(KICK_KEY, 1, nx=True, ex=KICK_TTL_S):
        queue.enqueue("backend.jobs.alerts.evaluate_dirty", job_timeout=1800)
        return True
    return False
