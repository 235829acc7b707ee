"""Bulk CSV imports and background job status."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app, request, url_for

from backend import schemas as s
from backend.api.context import auth, principal, request_id, transaction
from backend.errors import Invalid, NotFound
from backend.models import Job
from backend.services import audit, imports

bp = APIBlueprint("imports", __name__, url_prefix="/api/v1", tag="Jobs")


def _upload() -> bytes:
    if "file" in request.files:
        data: bytes = request.files["file"].read()
        return data
    if request.mimetype in ("text/csv", "text/plain", "application/octet-stream"):
        return request.get_data()
    raise Invalid("file", "send the CSV as multipart field 'file' or as a text/csv body")


@bp.post("/imports/<any(persons, registrations, permits):kind>")
@bp.auth_required(auth, roles=["admin"])
@bp.doc(
    summary="Upload a CSV of persons, registrations or permits; processed as a background job",
    responses={202: "the job was queued; poll its status_url"},
)
def start_import(kind: str) -> Any:
    content = _upload()
    if not content.strip():
        raise Invalid("file", "is empty")
    who = principal()
    with transaction() as session:
        upload_id = imports.store_upload(session, kind, content, who.token_id)
        job = Job(
            id=upload_id, kind=f"import.{kind}", owner_token_id=who.token_id, params={"kind": kind}
        )
        session.add(job)
        audit.record(session, who, f"import.{kind}", [None], None, request_id())
    current_app.extensions["qonys.queue"].enqueue(
        "backend.jobs.imports.import_csv", upload_id, job_id=upload_id, job_timeout=3600
    )
    return {
        "job_id": upload_id,
        "status_url": url_for("imports.job_status", job_id=upload_id),
    }, 202


@bp.get("/jobs/<job_id>")
@bp.auth_required(auth, roles=["admin", "analyst", "officer", "employer"])
@bp.output(s.JobOut)
@bp.doc(summary="A background job's status, progress and result (its owner only)")
def job_status(job_id: str) -> Any:
    with transaction() as session:
        job = session.get(Job, job_id) if len(job_id) <= 64 else None
        if job is None or job.owner_token_id != principal().token_id:
            raise NotFound(f"job {job_id} not found")
        return job
