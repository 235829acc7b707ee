"""The audit trail's seals, appended every few minutes, and the nightly check of them."""

from __future__ import annotations

import logging

import redis

from backend.jobs.base import job_database, job_settings
from backend.services.access import audit_chain, auth_failures

log = logging.getLogger("qonys.audit")


def seal_audit() -> int:
    with job_database().transaction() as session:
        return audit_chain.seal_all(session)


def verify_audit() -> int:
    """Walk every seal and row; a break is logged as critical and fails the job (RQ keeps
    it in the failed registry, where operators and `rq info` see it)."""
    with job_database().transaction() as session:
        checked, breaks = audit_chain.verify(session)
    if breaks:
        for found in breaks:
            log.critical("audit trail broken: %s", found)
        raise RuntimeError(f"audit trail broken at {breaks[0]} ({len(breaks)} breaks)")
    return checked


def flush_auth_failures() -> int:
    """Unauthenticated failures of each finished minute: one audit row per address."""
    conn = redis.Redis.from_url(job_settings().redis_url)
    with job_database().transaction() as session:
        minutes = auth_failures.flush(session, conn)
    auth_failures.forget(conn, minutes)
    return len(minutes)
