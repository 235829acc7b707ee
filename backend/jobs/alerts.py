"""Alert evaluation jobs: after ingestion (per person) and the scheduled sweep."""

from __future__ import annotations

import threading
import time
from typing import Any

from rq import Queue, get_current_job

from backend.jobs.base import alerts_policy_gaps, job_database, job_settings
from backend.services.tracking import alert_rules, residence

KICK_KEY = "qonys:alerts:kick"
# If no worker picks the job up, let a later batch enqueue another after this long.
KICK_TTL_S = 120


# One slice of alert evaluation; then the job re-enqueues itself behind what is waiting,
# so that steady phone traffic (which marks persons every second) never holds the
# worker: periodic jobs and users' maps and imports get their turn between slices.
SLICE_S = 10.0


def evaluate_dirty() -> int:
    """Evaluate persons whose traces changed, for one slice, then make way.

    The kick key is released first: a batch arriving while this job runs enqueues the
    next evaluation, while batches arriving before it started are covered by this one.
    Marks left when the slice ends are taken by the next job, enqueued at the back.
    """
    job = get_current_job()
    if job is not None:
        job.connection.delete(KICK_KEY)
    done, more = alert_rules.evaluate_slice(job_database(), job_settings(), SLICE_S)
    if more:
        _continue_later()
    return done


def _continue_later() -> None:
    job = get_current_job()
    if job is not None:
        kick(job.connection, Queue(job.origin, connection=job.connection))


@alerts_policy_gaps
def sweep() -> dict[str, Any]:
    """The scheduled sweep: a slice of ingestion's leftovers, then silent devices."""
    evaluated, more = alert_rules.evaluate_slice(job_database(), job_settings(), SLICE_S)
    if more:
        _continue_later()
    with job_database().transaction() as session:
        silent = alert_rules.sweep_silent_devices(session)
    return {"evaluated": evaluated, "silent_device": silent}


@alerts_policy_gaps
def residence_sweep() -> int:
    """Compare where monitored persons spend nights with their registered address."""
    return residence.sweep_residence(job_database(), job_settings())


class KickDebounce:
    """Phones send one point per request: a process that kicked within the last second
    does not ask Redis again. An evaluation job that finds marks left after its slice
    enqueues the next, so a skipped kick only waits for the next one (or the sweep)."""

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
