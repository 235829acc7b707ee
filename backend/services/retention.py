"""Retention of every kind of personal data, each with its own period (settings).

Raw trace points go by whole daily partitions (:mod:`backend.services.tracking.trace_storage`);
everything else that names or places a person is deleted, or stripped of its location,
here, by the daily maintenance job. What stays: the audit log (the record of who saw
whose data, kept by law and append-only), and aggregates that identify nobody (the
k-suppressed monitoring maps are kept for the map period only all the same, being
files nobody asked to keep).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend import clock
from backend.db import rowcount
from backend.settings import Settings


@dataclass(frozen=True)
class Rule:
    kind: str
    setting: str  # the Settings field holding the period in days
    sql: str  # with :before, the first moment kept


RULES = (
    Rule(
        "last positions",
        "trace_retention_days",
        "DELETE FROM trace_last_positions WHERE recorded_at < :before",
    ),
    Rule(
        "refused phone requests",
        "trace_retention_days",
        "DELETE FROM trace_refusals WHERE received_at < :before",
    ),
    Rule(
        "daily presence",
        "presence_retention_days",
        "DELETE FROM daily_presence WHERE day < CAST(:before AS date)",
    ),
    Rule(
        "closed alerts (with their coordinates)",
        "alert_retention_days",
        "DELETE FROM alerts WHERE status <> 'open' AND closed_at < :before",
    ),
    Rule(
        "check locations",
        "check_location_retention_days",
        "UPDATE officer_checks SET geom = NULL WHERE geom IS NOT NULL AND checked_at < :before",
    ),
    Rule(
        "idempotent responses",
        "idempotency_retention_days",
        "DELETE FROM idempotent_responses WHERE created_at < :before",
    ),
    Rule(
        "uploaded files",
        "upload_retention_days",
        "DELETE FROM import_files WHERE created_at < :before",
    ),
    Rule(
        "contacts of hosts and foreigners",
        "contact_retention_days",
        "DELETE FROM person_contacts WHERE consent_at < :before",
    ),
    Rule(
        "sent or abandoned messages (their recipients' addresses)",
        "outbox_retention_days",
        "DELETE FROM outbox WHERE status <> 'pending' AND created_at < :before",
    ),
    Rule(
        "stored maps (the newest of each kind stays)",
        "map_retention_days",
        """
        DELETE FROM map_artifacts m WHERE created_at < :before
          AND id <> (SELECT max(id) FROM map_artifacts n WHERE n.kind = m.kind)
        """,
    ),
)


def enforce(session: Session, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Apply every rule; returns how many rows each removed or stripped."""
    now = now or clock.now()
    done = {}
    for rule in RULES:
        before = now - timedelta(days=getattr(settings, rule.setting))
        done[rule.kind] = rowcount(session.execute(text(rule.sql), {"before": before}))
    return done
