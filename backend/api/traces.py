"""Movement traces: our batch API, OsmAnd/Traccar Client, OwnTracks; reading tracks."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, request

from backend import schemas as s
from backend.api.context import (
    auth,
    database,
    principal,
    purpose,
    record_access,
    request_id,
    settings,
    transaction,
    verify_secret,
)
from backend.api.idempotent import idempotent
from backend.api.limits import batch_limit, device_over_limit, limiter
from backend.errors import Invalid, OutOfScope, QonysError, Unauthorized
from backend.jobs import alerts as alert_jobs
from backend.services import devices, persons, phone_ingest, scope, traces, tracks
from backend.services import phone_protocols as protocols
from backend.services.phone_protocols import traccar_json_device_id
from backend.services.tokens import Principal
from backend.services.trace_points import PointError, point_from_batch

bp = APIBlueprint("traces", __name__, url_prefix="/api/v1", tag="Movement traces")


class TooManyPoints(QonysError):
    status = 413
    code = "too_many_points"


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
        result = traces.ingest(session, raws, build, source, settings(), device_person=device)
        # An admin's upload names the persons point by point: each is audited.
        record_access(session, f"traces.ingest.{source}", sorted(result.persons) or [who.person_id])
    if result.accepted:
        _kick_alerts()
    return result


@bp.post("/traces")
@limiter.limit(batch_limit)
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
    limit = settings().trace_max_points
    if len(points) > limit:
        raise TooManyPoints(f"at most {limit} points per request, got {len(points)}")
    who = principal()
    person = who.person_id if who.role == "device" else None
    build = partial(point_from_batch, person_id=person)
    result = _store(who, points, build, "batch", fast=True)
    return result, 202


OSMAND_DOC = """Traccar Client and OsmAnd (query string or form), and Traccar Client 9.x JSON.

The device token travels in `id` (or `deviceid`; `device_id` in Traccar Client's JSON
body). A known device is always answered 200, even when a point is refused: the apps
retry a refused point for ever. Refusals are kept for administrators
(`GET /api/v1/devices/{token_id}/refusals`). Unknown or revoked token: 401.

Units: Traccar Client sends `speed` in knots and `accuracy` in metres. OsmAnd's template
(`...?id=TOKEN&lat={0}&lon={1}&timestamp={2}&hdop={3}&altitude={4}&speed={5}&bearing={6}`)
has no `accuracy`; its `hdop` is the accuracy in metres and its speed is in m/s — `hdop`
without `accuracy` marks an OsmAnd request. A request without lat/lon is a heartbeat.
"""


def _json_body() -> tuple[Any, bool]:
    """The parsed JSON body and whether it parsed (deep nesting does not crash us)."""
    try:
        return json.loads(request.get_data(cache=True) or b"null"), True
    except (ValueError, RecursionError):
        return None, False


def _raw_excerpt(secret: str | None) -> str:
    """What was sent, for the refusal record, with the token cut out."""
    body = request.get_data(cache=True)[: settings().refusal_raw_max_chars * 2]
    text_ = f"{request.method} {request.full_path}\n{body.decode('utf-8', 'replace')}"
    return text_.replace(secret, "***") if secret else text_


def _phone_answer(who: Principal, parsed: list[Any], client: str, secret: str | None) -> None:
    """Store what a known phone sent; refusals and overflow are recorded, never raised."""
    config = settings()
    if device_over_limit(who.token_id):
        reason = f"over the device rate limit ({config.device_rate_limit})"
        with database().autocommit.connect() as conn:
            phone_ingest.record_refusals(
                conn, who, client, [reason], _raw_excerpt(secret), config.refusal_raw_max_chars
            )
        return
    outcome = phone_ingest.ingest_phone(
        database(), who, parsed, client, config, request_id(), lambda: _raw_excerpt(secret)
    )
    if outcome.stored and alert_jobs.PHONE_KICKS.due():
        _kick_alerts()


@bp.route("/traces/osmand", methods=["GET", "POST"])
@bp.doc(
    summary="Traccar Client / OsmAnd protocol; a known device always gets 200",
    description=OSMAND_DOC,
)
def osmand() -> Any:
    received = datetime.now(UTC)
    as_json = request.mimetype == "application/json"
    params = {k: v for k, v in request.values.items()}
    if as_json:
        root, parsed_ok = _json_body()
        secret = traccar_json_device_id(root) or params.get("id")
    else:
        secret = params.get("id") or params.get("deviceid")
    who = _device(secret)
    if request.method not in ("GET", "POST"):  # HEAD: answered, never stored
        return Response(status=200)
    if as_json:
        parsed: list[Any] = (
            protocols.from_traccar_json(root, who.device_person, received)
            if parsed_ok and isinstance(root, dict)
            else [PointError("the body is not a Traccar Client JSON object")]
        )
        client = "traccar_json"
    else:
        parsed = [protocols.from_osmand_params(params, who.device_person, received)]
        client = "osmand" if protocols.is_osmand_app(params) else "traccar"
    _phone_answer(who, parsed, client, secret)
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


def _owntracks_identity() -> dict[str, str]:
    """The app's user and device names (X-Limit-U / X-Limit-D, or ?u=&d=), kept per point."""
    found = {
        "user": request.headers.get("X-Limit-U") or request.args.get("u"),
        "device": request.headers.get("X-Limit-D") or request.args.get("d"),
    }
    return {k: v[:64] for k, v in found.items() if v}  # cleaned with the other attributes


@bp.post("/traces/owntracks")
@bp.doc(
    summary="OwnTracks HTTP mode; a known device always gets 200 []",
    description="HTTP Basic password (or bearer) is the device token. `_type: location` is "
    "stored (vel in km/h, tst in epoch seconds); `_type: encrypted` is opened with the "
    "device's key (libsodium secretbox) when one is set, else refused and recorded; other "
    "types and empty bodies are acknowledged. X-Limit-U / X-Limit-D are kept as the "
    "point's user and device names.",
)
def owntracks() -> Any:
    secret = _owntracks_secret()
    who = _device(secret)
    answer = current_app.response_class("[]", status=200, mimetype="application/json")
    if not request.get_data(cache=True).strip():
        return answer  # the apps post zero-length bodies (e.g. a deleted friend)
    message, parsed_ok = _json_body()
    if not parsed_ok:
        parsed: list[Any] = [PointError("the body is not JSON")]
    else:
        key = None
        if isinstance(message, dict) and message.get("_type") == "encrypted":
            with transaction() as session:
                key = devices.owntracks_key_of(session, who.token_id)
        parsed = protocols.from_owntracks(
            message, who.device_person, datetime.now(UTC), key, _owntracks_identity()
        )
    if parsed:
        _phone_answer(who, parsed, "owntracks", secret)
    return answer


@bp.get("/persons/<id:person_id>/last-position")
@bp.auth_required(auth, roles=["analyst", "officer"])
@bp.output(s.LastPositionOut)
@bp.doc(summary="The last known point of a person and its region")
def last_position(person_id: int) -> Any:
    why = purpose()
    who = principal()
    with transaction() as session:
        persons.get_person(session, person_id)
        if not scope.in_scope(session, who, person_id):
            # Registered or permitted in another region: theirs to look for.
            raise OutOfScope(f"no position known for person {person_id}", person_id)
        result = traces.last_position(session, person_id)
        record_access(session, "traces.last_position", [person_id], why)
        return result


def _period(query: dict[str, Any]) -> tuple[datetime, datetime]:
    start, end = query["from_"].astimezone(UTC), query["to"].astimezone(UTC)
    if end - start > timedelta(days=settings().track_max_days):
        raise Invalid("to", f"a track covers at most {settings().track_max_days} days")
    return start, end


@bp.get("/persons/<id:person_id>/track")
@bp.auth_required(auth, roles=["analyst"])
@bp.input(s.TrackQuery, location="query", arg_name="query")
@bp.doc(
    summary="A person's track as GeoJSON: points, a LineString per day, stays and trips",
    description="Only with `X-Purpose` (a case reference); every read is audited.",
)
def track(person_id: int, query: dict[str, Any]) -> Any:
    why = purpose(required_for=("analyst",))
    start, end = _period(query)
    with transaction() as session:
        persons.get_person(session, person_id)
        collection = tracks.track_geojson(
            session, person_id, start, end, settings(), query["simplify"]
        )
        record_access(session, "traces.track", [person_id], why)
    # GeoJSON text assembled by PostgreSQL: passed through, never parsed again.
    return current_app.response_class(collection, mimetype="application/geo+json")


@bp.get("/persons/<id:person_id>/stays")
@bp.auth_required(auth, roles=["analyst"])
@bp.input(s.PeriodQuery, location="query", arg_name="query")
@bp.doc(summary="Stays and the trips between them for a person and period (X-Purpose)")
def stays(person_id: int, query: dict[str, Any]) -> Any:
    why = purpose(required_for=("analyst",))
    start, end = _period(query)
    with transaction() as session:
        persons.get_person(session, person_id)
        result = tracks.stays_and_trips(session, person_id, start, end, settings())
        record_access(session, "traces.stays", [person_id], why)
    return result
