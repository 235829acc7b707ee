"""Delivering the outbox: one RQ job per message try, a periodic dispatch of what is due.

After a transaction that wrote outbox rows commits, the app enqueues their delivery at
once (:func:`install_kick`). When Redis is down then, or a worker dies, or a try failed
and waits its backoff, the periodic :func:`dispatch` finds the row by the database alone:
the outbox table, not the queue, is the record of what is still to send.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import redis
from rq import Queue, get_current_job
from sqlalchemy import event
from sqlalchemy.orm import Session

from backend.db import Database
from backend.jobs.base import job_database, job_settings
from backend.services.notify import outbox
from backend.services.notify.channels import SENDERS

log = logging.getLogger("qonys.outbox")

DELIVER = "backend.jobs.outbox.deliver"


# Messages per job: RQ forks a work horse per job, which costs more than a delivery; a
# job tries its messages side by side on a few threads.
BATCH = 50
THREADS = 4


def deliver(outbox_ids: list[int]) -> dict[str, int]:
    """One try of each message (skipped when not due or another worker has it)."""
    database, settings = job_database(), job_settings()
    with ThreadPoolExecutor(max(1, min(THREADS, len(outbox_ids)))) as pool:
        outcomes = list(
            pool.map(lambda i: outbox.deliver(database, settings, i, SENDERS), outbox_ids)
        )
    return dict(Counter(outcomes))


def enqueue(queue: Queue, ids: list[int]) -> None:
    """Ask for the delivery of ``ids`` in one round trip; a duplicate is harmless."""
    with queue.connection.pipeline() as pipe:
        for start in range(0, len(ids), BATCH):
            queue.enqueue(
                DELIVER,
                ids[start : start + BATCH],
                job_timeout=120 + 12 * BATCH,
                result_ttl=60,
                pipeline=pipe,
            )
        pipe.execute()


DRAIN = "backend.jobs.outbox.drain"
DRAIN_KEY = "qonys:outbox:drain"
# If no worker picks the drain up, a later commit may enqueue another after this long.
DRAIN_TTL_S = 60


def drain() -> int:
    """Deliver whatever is due, batch after batch, until nothing is: what a commit asks
    for. The key is released first, so a commit during the drain asks for the next."""
    job = get_current_job()
    if job is not None:
        job.connection.delete(DRAIN_KEY)
    tried = 0
    while True:
        with job_database().transaction() as session:
            ids = outbox.due(session, limit=BATCH * THREADS)
        if not ids:
            return tried
        deliver(ids)
        tried += len(ids)


def kick(queue: Queue) -> None:
    """Enqueue a drain unless one is already waiting: under load many commits share one
    job (RQ forks a work horse per job); when idle, the next commit starts one at once."""
    if queue.connection.set(DRAIN_KEY, 1, nx=True, ex=DRAIN_TTL_S):
        queue.enqueue(DRAIN, job_timeout=3600, result_ttl=60)


def dispatch(now: datetime | None = None, queue: Queue | None = None) -> int:
    """Enqueue the delivery of every due message (the periodic job), on the queue this
    job came from unless one is given."""
    if queue is None:
        job = get_current_job()
        if job is not None:
            queue = Queue(job.origin, connection=job.connection)
        else:
            settings = job_settings()
            queue = Queue(settings.queue_name, connection=redis.Redis.from_url(settings.redis_url))
    with job_database().transaction() as session:
        ids = outbox.due(session, now)
    if ids:
        enqueue(queue, ids)
    return len(ids)


def install_kick(database: Database, queue: Queue) -> None:
    """After a commit that wrote outbox rows, enqueue their delivery. Redis down: the
    rows wait for :func:`dispatch`; the request that wrote them still succeeds."""

    def after_commit(session: Session) -> None:
        ids = session.info.pop(outbox.WRITTEN, None)
        if not ids:
            return
        try:
            kick(queue)
        except redis.RedisError as exc:
            log.warning("outbox: %d messages wait for the dispatch (%s)", len(ids), exc)

    def after_rollback(session: Session) -> None:
        session.info.pop(outbox.WRITTEN, None)

    listen: Any = event.listen
    listen(database.sessions, "after_commit", after_commit)
    listen(database.sessions, "after_rollback", after_rollback)
