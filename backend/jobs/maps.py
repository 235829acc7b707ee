"""Map building as a background job, with progress in the job status."""

from __future__ import annotations

from typing import Any

from backend.jobs.base import finish, job_database, job_settings, report, tracked
from backend.services.maps import build_and_store


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
