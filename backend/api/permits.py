"""Employers, permits and employers' early-termination notices."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from backend import schemas as s
from backend.api.context import auth, principal, record_access, transaction
from backend.api.idempotent import idempotent
from backend.errors import NotFound
from backend.services import events
from backend.services.register import permits

bp = APIBlueprint("permits", __name__, url_prefix="/api/v1", tag="Registry")


def _own_employer(bin_: str) -> None:
    """An employer sees only its own BIN; any other is simply not found."""
    who = principal()
    if who.role == "employer" and who.employer_bin != bin_:
        raise NotFound(f"employer {bin_} not found")


@bp.post("/employers")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.EmployerIn, arg_name="data")
@bp.output(s.EmployerOut, status_code=201)
@bp.doc(summary="Register an employer by BIN")
def create_employer(data: dict[str, Any]) -> Any:
    with transaction() as session:
        if data.get("iin"):
            return permits.create_employer(session, data["iin"], data["name"], kind="household")
        return permits.create_employer(session, data["bin"], data["name"])


@bp.post("/permits")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.PermitIn, arg_name="data")
@bp.output(s.PermitOut, status_code=201)
@bp.doc(summary="Issue a labour-immigrant permit (patent) valid in one region for 1-12 months")
def create_permit(data: dict[str, Any]) -> Any:
    with transaction() as session:
        permit = events.issue_permit(session, data)
        record_access(session, "permit.create", [permit.person_id])
        return permit


@bp.post("/permits/<id:permit_id>/extensions")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.PermitExtensionIn, arg_name="data")
@bp.output(s.PermitOut, status_code=201)
@bp.doc(summary="Extend an active permit to a new last day")
def extend_permit(permit_id: int, data: dict[str, Any]) -> Any:
    with transaction() as session:
        permit = permits.extend_permit(session, permit_id, data["valid_to"])
        record_access(session, "permit.extend", [permit.person_id])
        return permit


@bp.put("/permits/<id:permit_id>/household-employer")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.HouseholdEmployerIn, arg_name="data")
@bp.output(s.PermitOut)
@bp.doc(
    summary="Name the household (a private person, by IIN) employing the holder of a permit "
    "issued without an employer; it may then file the termination notice"
)
def household_employer(permit_id: int, data: dict[str, Any]) -> Any:
    with transaction() as session:
        permit = permits.name_household_employer(session, permit_id, data["iin"])
        record_access(session, "permit.employer", [permit.person_id], data["iin"])
        return permit


@bp.post("/permits/<id:permit_id>/revocation")
@bp.auth_required(auth, roles=["admin"])
@idempotent
@bp.input(s.PermitRevocationIn, arg_name="data")
@bp.output(s.PermitOut)
@bp.doc(summary="Revoke a permit")
def revoke_permit(permit_id: int, data: dict[str, Any]) -> Any:
    with transaction() as session:
        permit = events.revoke_permit(session, permit_id)
        record_access(session, "permit.revoke", [permit.person_id], data["reason"])
        return permit


@bp.get("/employers/<bin_>/permits")
@bp.auth_required(auth, roles=["employer", "admin"])
@bp.input(s.PageQuery, location="query", arg_name="query")
@bp.output(s.EmployerPermitPage)
@bp.doc(summary="The employer's permit holders")
def employer_permits(bin_: str, query: dict[str, Any]) -> Any:
    _own_employer(bin_)
    with transaction() as session:
        found, cursor = permits.employer_permits(session, bin_, query["limit"], query.get("cursor"))
        record_access(session, "permit.list", [p.person_id for p in found])
        return {"items": found, "next_cursor": cursor}


@bp.post("/employers/<bin_>/termination-notices")
@bp.auth_required(auth, roles=["employer"])
@idempotent
@bp.input(s.TerminationNoticeIn, arg_name="data")
@bp.output(s.TerminationNoticeOut, status_code=201)
@bp.doc(summary="Notify early termination of a permit holder's work; ends the permit")
def termination_notice(bin_: str, data: dict[str, Any]) -> Any:
    _own_employer(bin_)
    with transaction() as session:
        notice, permit = events.file_termination_notice(session, bin_, data)
        record_access(session, "permit.terminate", [permit.person_id], data["reason"])
        return notice
