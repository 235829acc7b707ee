"""Movement traces: our batch API, OsmAnd/Traccar Client, OwnTracks; reading tracks."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, request

from backend import schemas as s
from backend.api.context import (
    auth,
    principal,
    purpose,
    request_id,
    transaction,
    verify_secret,
)
from backend.api.idempotent import idempotent
from backend.errors import Invalid, NotFound, QonysError, Unauthorized
from backend.jobs import alerts as alert_jobs
from backend.services import audit, persons, traces, tracks
from backend.services.tokens import Principal

bp = APIBlueprint("traces", __name__, url_prefix="/api/v1", tag="Movement traces")


class TooManyPoints(QonysError):
    status = 413
    title = "Too many points"


def _settings() -> Any:
    return current_app.extensions["qonys.settings"]


def _kick_alerts() -> None:
    try:
        alert_jobs.kick(
            current_app.extensions["qonys.redis"], current_app.extensions["qonys.queue"]
        )
    except Exception:  # the sweep evaluates whatever a missed kick leaves behind
        current_app.logger.warning("could not enqueue alert evaluation", exc_info=True)


def _device(secret: str | None) -> Principal:
    """The device principal for a token sent outside the Authorization header."""
    who = verify_secret(secret) if secret else None
    if who is None or who.role != "device" or who.person_id is None:
        raise Unauthorized("unknown device")
    return who


def _store(
    who: Principal, raws: list[Any], build: Any, source: str, fast: bool = False
) -> traces.IngestResult:
    device = who.person_id if fast and who.role == "device" else None
    with transaction() as session:
        result = traces.ingest(session, raws, build, source, _settings(), device_person=device)
        audit.record(session, who, f"traces.ingest.{source}", [who.person_id], None, request_id())
    if result.accepted:
        _kick_alerts()
    return result


@bp.post("/traces")
@bp.auth_required(auth, roles=["device", "admin"])
@idempotent
@bp.input(s.TraceBatchIn, validation=False)
@bp.output(s.TraceResultOut, status_code=202)
@bp.doc(
    summary="Upload up to 5,000 points; bad points are reported, good ones kept",
    description="Each (person, recorded time) is stored once: replays count as duplicates.",
)
def post_traces(json_data: Any) -> Any:
    body = json_data  # parsed once by the input decorator; validated point by point below
    if not isinstance(body, dict) or not isinstance(body.get("points"), list):
        raise Invalid("points", 'send {"points": [...]}')
    points = body["points"]
    limit = _settings().trace_max_points
    if len(points) > limit:
        raise TooManyPoints(f"at most {limit} points per request, got {len(points)}")
    who = principal()
    person = who.person_id if who.role == "device" else None
    build = partial(traces.point_from_batch, person_id=person)
    result = _store(who, points, build, "batch", fast=True)
    return result.as_dict(), 202


@bp.route("/traces/osmand", methods=["GET", "POST"])
@bp.doc(
    summary="OsmAnd / Traccar Client protocol; the `id` parameter carries the device token",
    description="Parameters: id, lat, lon, timestamp (epoch s, ms or ISO), accuracy or "
    "hdop, speed (knots, as Traccar reads it), bearing, altitude, batt; other keys are "
    "kept as attributes. 200 with an empty body when stored.",
)
def osmand() -> Any:
    params = {k: v for k, v in request.values.items()}
    who = _device(params.get("id") or params.get("deviceid"))
    result = _store(
        who, [params], partial(traces.point_from_osmand, person_id=who.person_id), "osmand"
    )
    if result.rejected:
        raise Invalid("point", result.rejected[0]["reason"])
    return Response(status=200)


def _owntracks_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


@bp.post("/traces/owntracks")
@bp.doc(
    summary="OwnTracks HTTP mode; HTTP Basic password (or bearer) is the device token",
    description="`_type: location` messages are stored (vel in km/h, tst in epoch "
    "seconds); other message types are acknowledged and ignored. Answers `[]`.",
)
def owntracks() -> Any:
    who = _device(_owntracks_secret())
    message = request.get_json(silent=True)
    if not isinstance(message, dict):
        raise Invalid("body", "an OwnTracks JSON message is expected")
    if message.get("_type") == "location":
        result = _store(
            who,
            [message],
            partial(traces.point_from_owntracks, person_id=who.person_id),
            "owntracks",
        )
        if result.rejected:
            raise Invalid("location", result.rejected[0]["reason"])
    return current_app.response_class("[]", status=200, mimetype="application/json")


@bp.get("/persons/<id:person_id>/last-position")
@bp.auth_required(auth, roles=["analyst", "officer"])
@bp.output(s.LastPositionOut)
@bp.doc(summary="The last known point of a person and its region")
def last_position(person_id: int) -> Any:
    why = purpose()
    who = principal()
    with transaction() as session:
        persons.get_person(session, person_id)
        result = traces.last_position(session, person_id)
        if who.region_kato and result["region_kato"] != who.region_kato:
            raise NotFound(f"no position known for person {person_id}")
        audit.record(session, who, "traces.last_position", [person_id], why, request_id())
        return result


def _period(query: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = query["from_"].astimezone(UTC), query["to"].astimezone(UTC)
    if end - start > timedelta(days=_settings().track_max_days):
        raise Invalid("to", f"a track covers at most {_settings().track_max_days} days")
    return start, end


@bp.get("/persons/<id:person_id>/track")
@bp.auth_required(auth, roles=["analyst"])
@bp.input(s.PeriodQuery, location="query", arg_name="query")
@bp.doc(
    summary="A person's track as GeoJSON: points, a LineString per day, stays and trips",
    description="Only with `X-Purpose` (a case reference); every read is audited.",
)
def track(person_id: int, query: dict[str, Any]) -> Any:
    why = purpose(required_for=("analyst",))
    start, end = _period(query)
    with transaction() as session:
        persons.get_person(session, person_id)
        collection = tracks.track_geojson(session, person_id, start, end, _settings())
        audit.record(session, principal(), "traces.track", [person_id], why, request_id())
    return current_app.response_class(
        current_app.json.dumps(collection), mimetype="application/geo+json"
    )


@bp.get("/persons/<id:person_id>/stays")
@bp.auth_required(auth, roles=["analyst"])
@bp.input(s.PeriodQuery, location="query", arg_name="query")
@bp.doc(summary="Stays and the trips between them for a person and period (X-Purpose)")
def stays(person_id: int, query: dict[str, Any]) -> Any:
    why = purpose(required_for=("analyst",))
    start, end = _period(query)
    with transaction() as session:
        persons.get_person(session, person_id)
        result = tracks.stays_and_trips(session, person_id, start, end, _settings())
        audit.record(session, principal(), "traces.stays", [person_id], why, request_id())
    return result
