"""Alert evaluation jobs: after ingestion (per person) and the scheduled sweep."""

from __future__ import annotations

from typing import Any

from backend.jobs.base import job_database, job_settings
from backend.services import alerts

KICK_KEY = "qonys:alerts:kick"


def evaluate_dirty() -> int:
    """Evaluate every person whose traces changed since their last evaluation."""
    return alerts.evaluate_dirty(job_database(), job_settings())


def sweep() -> dict[str, Any]:
    """The scheduled sweep: leftovers of ingestion, then silent devices."""
    evaluated = alerts.evaluate_dirty(job_database(), job_settings())
    with job_database().transaction() as session:
        silent = alerts.sweep_silent_devices(session, job_settings())
    return {"evaluated": evaluated, "silent_device": silent}


def kick(redis_conn: Any, queue: Any, coalesce_s: int = 2) -> bool:
    """Enqueue one evaluation for all batches arriving within ``coalesce_s`` seconds."""
    if redis_conn.set(KICK_KEY, 1, nx=True, ex=coalesce_s):
        queue.enqueue("backend.jobs.alerts.evaluate_dirty", job_timeout=1800)
        return True
    return False
