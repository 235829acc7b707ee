"""Bulk CSV import as a background job."""

from __future__ import annotations

from typing import Any

from backend.jobs.base import finish, job_database, job_settings, report, tracked
from backend.services.imports import run_import


@tracked
def import_csv(upload_id: str) -> dict[str, Any]:
    """Import an uploaded CSV; the report lands in the job's status row."""
    database = job_database()
    report(1)
    with database.sessions() as session:
        result = run_import(
            session, upload_id, job_settings(), progress=lambda p: report(max(1, min(p, 99)))
        )
        session.commit()
    finish(result)
    return result
