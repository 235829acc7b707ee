"""Bulk CSV import as a background job."""

from __future__ import annotations

from typing import Any

from backend.errors import QonysError
from backend.jobs.base import finish, job_database, job_settings, report
from backend.services.imports import run_import


def import_csv(upload_id: str) -> dict[str, Any]:
    """Import an uploaded CSV; the report lands in the job's status row."""
    database = job_database()
    report(1)
    try:
        with database.sessions() as session:
            result = run_import(
                session, upload_id, job_settings(), progress=lambda p: report(max(1, min(p, 99)))
            )
            session.commit()
    except QonysError as exc:
        finish(error=exc.detail)
        raise
    finish(result)
    return result
