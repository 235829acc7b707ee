"""Policy parameters over HTTP: analysts read the legal numbers in force, admins set them."""

from __future__ import annotations

from datetime import date
from typing import Any

from apiflask import APIBlueprint
from sqlalchemy.orm import Session

from backend import clock
from backend import schemas as s
from backend.api.context import auth, principal, record_access, transaction
from backend.services import policy

bp = APIBlueprint("policy", __name__, url_prefix="/api/v1", tag="Settlement")


def _view(session: Session, name: str, on: date) -> dict[str, Any]:
    spec = policy.spec(name)
    row = policy.in_force(session, name, on)
    return {
        "name": name,
        "rule": spec.rule,
        "unit": spec.unit,
        "description": spec.description,
        "on": on,
        "value": None if row is None else row.value,
        "effective_from": None if row is None else row.effective_from,
        "source": None if row is None else row.source,
        "reference": None if row is None else row.reference,
        "history": policy.history(session, name),
    }


@bp.get("/policy-parameters")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.input(s.PolicyQuery, location="query", arg_name="query")
@bp.output(s.PolicyPage)
@bp.doc(summary="Every policy parameter: the value in force on a day, its source and history")
def list_parameters(query: dict[str, Any]) -> Any:
    on = query.get("on") or clock.today()
    with transaction() as session:
        return {"on": on, "items": [_view(session, name, on) for name in policy.PARAMETERS]}


@bp.get("/policy-parameters/<name>")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.input(s.PolicyQuery, location="query", arg_name="query")
@bp.output(s.PolicyParameterOut)
@bp.doc(summary="One policy parameter on a day, with its history")
def get_parameter(name: str, query: dict[str, Any]) -> Any:
    with transaction() as session:
        return _view(session, name, query.get("on") or clock.today())


@bp.put("/policy-parameters/<name>")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.PolicyIn, arg_name="data")
@bp.output(s.PolicyParameterOut)
@bp.doc(
    summary="Set a parameter's value from a day on (audited)",
    description="The value applies from `effective_from` until a later value; computations "
    "for earlier days keep the value then in force. Setting the same day again replaces it.",
)
def put_parameter(name: str, data: dict[str, Any]) -> Any:
    who = principal()
    with transaction() as session:
        row, before = policy.set_value(
            session,
            name,
            data["value"],
            data["effective_from"],
            data["source"],
            data.get("reference"),
            who.actor,
        )
        record_access(session, "policy.set", [None], policy.change_note(row, before))
        return _view(session, name, clock.today())
