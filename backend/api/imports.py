"""Bulk CSV imports, processed as background jobs."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import request

from backend import schemas as s
from backend.api.context import auth, principal
from backend.api.jobs import launch
from backend.errors import Invalid
from backend.services import imports

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
@bp.output(s.JobStartedOut, status_code=202)
@bp.doc(
    summary="Upload a CSV of persons, registrations or permits; processed as a background job",
    responses={202: "the job was queued; poll its status_url"},
)
def start_import(kind: str) -> Any:
    content = _upload()
    if not content.strip():
        raise Invalid("file", "is empty")
    owner = principal().token_id
    return launch(
        f"import.{kind}",
        "backend.jobs.imports.import_csv",
        params={"kind": kind},
        timeout=3600,
        prepare=lambda session: imports.store_upload(session, kind, content, owner),
    )
