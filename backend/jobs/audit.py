"""The audit trail's seals, appended every few minutes, and the nightly check of them."""

from __future__ import annotations

import logging

from backend.jobs.base import job_database
from backend.services import audit_chain

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
