"""Map building as a background job, with progress in the job status."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from backend.jobs.base import finish, job_database, job_settings, report, tracked
from backend.services.monitoring.maps import build_and_store, build_and_store_monitoring
from backend.services.monitoring.monitoring import Filters


@tracked
def build_kandas_map(job_id: str, year: int | None = None) -> dict[str, Any]:
    report(5)
    with job_database().transaction() as session:
        artifact = build_and_store(session, job_settings(), year, job_id, progress=report)
        result = {
            "artifact_id": artifact.id,
            "url": "/maps/kandas-settlement",
            "bytes": artifact.bytes,
            "gzip_bytes": artifact.gzip_bytes,
            **artifact.params,
        }
    finish(result)
    return result


@tracked
def build_monitoring_map(job_id: str, filters: dict[str, Any]) -> dict[str, Any]:
    report(5)
    chosen = Filters.of(
        date.fromisoformat(filters["date_from"]) if filters.get("date_from") else None,
        date.fromisoformat(filters["date_to"]) if filters.get("date_to") else None,
        filters.get("category"),
        filters.get("region_kato"),
    )
    with job_database().transaction() as session:
        artifact = build_and_store_monitoring(
            session, job_settings(), chosen, job_id, progress=report
        )
        result = {
            "artifact_id": artifact.id,
            "url": "/maps/monitoring?"
            + urlencode({k: v for k, v in chosen.as_json().items() if v}),
            "bytes": artifact.bytes,
            "gzip_bytes": artifact.gzip_bytes,
            **artifact.params,
        }
    finish(result)
    return result
