"""Trace storage housekeeping: partitions ahead, retention behind."""

from __future__ import annotations

from backend.jobs.base import job_database, job_settings
from backend.services.tracking import trace_storage


def maintain_partitions() -> dict[str, object]:
    """Partitions ahead, retention behind (keeping daily presence), closed days clustered
    and given their spatial index."""
    settings = job_settings()
    engine = job_database().engine
    created = trace_storage.prepare_ahead(
        engine, settings.trace_retention_days, settings.trace_partitions_ahead_days
    )
    dropped = trace_storage.drop_expired(engine, settings.trace_retention_days)
    compacted = trace_storage.compact_closed(engine)
    return {
        "created": created,
        "dropped": dropped,
        "compacted": compacted,
    }
