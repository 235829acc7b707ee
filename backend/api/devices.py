"""Administrators: enrol phones, list and revoke tokens, read what phones had refused."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from backend import schemas as s
from backend.api.context import auth, principal, record_access, settings, transaction
from backend.services.access import tokens
from backend.services.tracking import devices

bp = APIBlueprint("devices", __name__, url_prefix="/api/v1", tag="People and devices")


@bp.post("/devices")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.DeviceEnrolIn, arg_name="data")
@bp.output(s.DeviceEnrolOut, status_code=201)
@bp.doc(
    summary="Enrol a person's phone: a device token and the apps' configuration links",
    description="The links are what the QR codes of `qonys device enrol` carry: Traccar "
    "Client's `org.traccar.client://` URI and OwnTracks' `owntracks:///config?inline=`.",
)
def enrol(data: dict[str, Any]) -> Any:
    config = settings()
    days = data.get("expires_days", config.device_token_days or None)
    with transaction() as session:
        enrolment = devices.enrol(
            session,
            data["person_id"],
            config.public_url,
            days,
            data["encrypt"],
            owner=principal().person,
        )
        record_access(session, "devices.enrol", [data["person_id"]])
    return enrolment, 201


@bp.get("/tokens")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.TokenQuery, location="query", arg_name="query")
@bp.output(s.TokenPage)
@bp.doc(summary="Every token (never a secret): role, scope, lifetime, last contact, refusals")
def list_tokens(query: dict[str, Any]) -> Any:
    with transaction() as session:
        items = tokens.list_tokens(session, query.get("role"))
        record_access(session, "tokens.list", [None])
    return {"items": items}


@bp.delete("/tokens/<id:token_id>")
@bp.auth_required(auth, roles=["admin"])
@bp.output({}, status_code=204)
@bp.doc(summary="Revoke a token; it stops working at once in every API process")
def revoke(token_id: int) -> Any:
    with transaction() as session:
        row = tokens.revoke_token(session, tokens.find_token(session, str(token_id)))
        record_access(session, "tokens.revoke", [row.person_id])
        digest = row.token_hash
    tokens.announce_revocation(current_app.extensions["qonys.redis"], digest)
    return "", 204


@bp.get("/devices/<id:token_id>/refusals")
@bp.auth_required(auth, roles=["admin"])
@bp.input(s.RefusalQuery, location="query", arg_name="query")
@bp.output(s.RefusalPage)
@bp.doc(summary="What a phone sent that was refused (answered 200 so its queue moved on)")
def refusals(token_id: int, query: dict[str, Any]) -> Any:
    with transaction() as session:
        items = devices.refusals(session, token_id, query["limit"])
        count = devices.refusal_count(session, token_id)
        person = items[0].person_id if items else None
        record_access(session, "devices.refusals", [person])
    return {"token_id": token_id, "count": count, "items": items}
