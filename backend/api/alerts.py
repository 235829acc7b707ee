"""Alerts for analysts (all) and officers (their region)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from backend import schemas as s
from backend.api.context import auth, principal, purpose, record_access, transaction
from backend.services import events
from backend.services.tracking import alert_store

bp = APIBlueprint("alerts", __name__, url_prefix="/api/v1", tag="Alerts")


@bp.get("/alerts")
@bp.auth_required(auth, roles=["analyst", "officer", "admin"])
@bp.input(s.AlertQuery, location="query", arg_name="query")
@bp.output(s.AlertPage)
@bp.doc(
    summary="Alerts by kind, region and status; officers see their region only",
    description="Alerts name a person and may carry where they stay at night: analysts "
    "and administrators send `X-Purpose` (a case reference), recorded with every page read.",
)
def list_alerts(query: dict[str, Any]) -> Any:
    who = principal()
    why = purpose()
    with transaction() as session:
        items, cursor = alert_store.list_alerts(
            session,
            who,
            query.get("kind"),
            query.get("region_kato"),
            query["status"],
            query["limit"],
            query.get("cursor"),
        )
        record_access(session, "alerts.list", sorted({a.person_id for a in items}) or [None], why)
        return {"items": items, "next_cursor": cursor}


@bp.post("/alerts/<id:alert_id>/resolution")
@bp.auth_required(auth, roles=["analyst", "officer", "admin"])
@bp.input(s.AlertResolutionIn, arg_name="data")
@bp.output(s.AlertOut)
@bp.doc(summary="Close an open alert with a reason")
def resolve(alert_id: int, data: dict[str, Any]) -> Any:
    who = principal()
    with transaction() as session:
        alert = alert_store.resolve_alert(session, who, alert_id, data["reason"], data["confirmed"])
        events.alert_resolved(session, alert, data["reason"], data["confirmed"])
        record_access(session, "alerts.resolve", [alert.person_id], data["reason"])
        return alert
