"""Field officers: on-the-spot checks and registrations near them."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from backend import schemas as s
from backend.api.context import (
    audit_context,
    auth,
    database,
    principal,
    record_access,
    transaction,
)
from backend.services.register import checks, registrations

bp = APIBlueprint("checks", __name__, url_prefix="/api/v1", tag="Field officers")


@bp.post("/checks")
@bp.auth_required(auth, roles=["officer"])
@bp.input(s.CheckIn, arg_name="data")
@bp.output(s.CheckOut)
@bp.doc(
    summary="Check one person by IIN or document number: ok, violation or not_found",
    description="A document number held by more than one person is never resolved by "
    "guessing: 409 `ambiguous_document`; check by IIN, or add `document_country`. An "
    "officer bound to a region sees the details (person, registration, permit) only of "
    "persons the register places in that region, or nowhere; for others the verdict and "
    "reasons come with `outside_scope: true` and no details.",
)
def check(data: dict[str, Any]) -> Any:
    # Autocommit: a read, then one statement storing the check with its audit row.
    with database().autocommit.connect() as conn:
        return checks.run_check(
            conn,
            audit_context(),
            data.get("iin"),
            data.get("document_number"),
            data["location"],
            document_country=data.get("document_country"),
        )


@bp.get("/registrations/near")
@bp.auth_required(auth, roles=["officer"])
@bp.input(s.NearQuery, location="query", arg_name="query")
@bp.output(s.NearOut)
@bp.doc(summary="Current registrations within a radius (capped), nearest first")
def near(query: dict[str, Any]) -> Any:
    cap = current_app.extensions["qonys.settings"].near_max_radius_m
    radius = min(query["radius_m"], cap)
    who = principal()
    with transaction() as session:
        items = registrations.registrations_near(
            session, query["lat"], query["lon"], radius, query["limit"], who.region_kato
        )
        record_access(session, "registration.near", [i.person_id for i in items] or [None])
        return {"radius_m": radius, "items": items}
