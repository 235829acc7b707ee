"""Ministry monitoring over HTTP: residence-permit pre-selection (DOMAIN rule 13)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from backend import schemas as s
from backend.api.context import auth, principal, purpose, record_access, transaction
from backend.services import preselection

bp = APIBlueprint("monitoring", __name__, url_prefix="/api/v1", tag="Monitoring")


@bp.post("/preselection")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.PreselectionIn, arg_name="data")
@bp.output(s.PreselectionOut, status_code=201)
@bp.doc(
    summary="Score a residence-permit applicant and store the decision with its reasons",
    description="Weighted score of the state-language test, questionnaire and interview "
    "(each 0-100) by the policy parameters `preselection_weights` and "
    "`preselection_threshold` in force today; failing the security checks refuses "
    "whatever the score. Reasons: `security_checks_failed`, `score_below_threshold`, "
    "`score_at_or_above_threshold`.",
)
def post_preselection(data: dict[str, Any]) -> Any:
    who = principal()
    with transaction() as session:
        row = preselection.decide(session, data, who.actor)
        record_access(session, "preselection.decide", [row.person_id], row.decision)
        return row


@bp.get("/preselection/<id:person_id>")
@bp.auth_required(auth, roles=["admin", "analyst"])
@bp.output(s.PreselectionPage)
@bp.doc(summary="An applicant's pre-selection decisions, newest first (with X-Purpose)")
def get_preselection(person_id: int) -> Any:
    why = purpose()
    with transaction() as session:
        items = preselection.latest(session, person_id)
        record_access(session, "preselection.read", [person_id], why)
        return {"items": items}
