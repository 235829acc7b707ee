"""Movement traces: our batch API, the phone apps of the registry (services/phone_apps:
Traccar Client, OsmAnd, OwnTracks, GPSLogger); reading tracks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import redis
from apiflask import APIBlueprint
from flask import current_app, request

from backend import outages
from backend import schemas as s
from backend.api.context import (
    audit_context,
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
from backend.api.limits import device_over_limit, within_batch_limit
from backend.errors import Invalid, OutOfScope, QonysError, Unauthorized
from backend.jobs import alerts as alert_jobs
from backend.redaction import redact
from backend.services.access import scope
from backend.services.access.tokens import Principal
from backend.services.register import persons
from backend.services.tracking import devices, phone_apps, phone_ingest, traces, tracks
from backend.services.tracking.trace_points import point_from_batch

bp = APIBlueprint("traces", __name__, url_prefix="/api/v1", tag="Movement traces")


class TooManyPoints(QonysError):
    status = 413
    code = "too_many_points"


def _kick_alerts() -> None:
    try:
        alert_jobs.kick(
            current_app.extensions["qonys.redis"], current_app.extensions["qonys.queue"]
        )
    except redis.RedisError as exc:  # the sweep evaluates what a missed kick leaves behind
        outages.REDIS.failed(exc)
        return
    outages.REDIS.ok()


def _device(secret: str | None) -> Principal:
    """The device principal for a token sent outside the Authorization header."""
    who = verify_secret(secret) if secret else None
    if who is None or who.role != "device" or who.person_id is None:
        raise Unauthorized("unknown device")
    return who


def _store_clean(person_id: int, clean: traces.CleanBatch) -> traces.IngestResult:
    """A device's batch whose every point is clean: stored whole, with its audit row,
    in one autocommit statement."""
    result = traces.ingest_clean(
        database(), clean, person_id, "batch", settings(), audit_context(), "traces.ingest.batch"
    )
    if result.accepted:
        _kick_alerts()
    return result


def _store(who: Principal, raws: list[Any], build: Any, source: str) -> traces.IngestResult:
    device = who.person_id if who.role == "device" else None  # its points take the fast path
    with transaction() as session:
        result = traces.ingest(session, raws, build, source, settings(), device_person=device)
        # An admin's upload names the persons point by point: each is audited.
        record_access(session, f"traces.ingest.{source}", sorted(result.persons) or [who.person_id])
    if result.accepted:
        _kick_alerts()
    return result


@bp.post("/traces")
@within_batch_limit
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
    if person is not None:
        clean = traces.clean_of(request.get_data(cache=True), person, settings())
        if clean is not None:
            return _store_clean(person, clean), 202
    build = partial(point_from_batch, person_id=person)
    result = _store(who, points, build, "batch")
    return result, 202


def _raw_excerpt(secret: str | None) -> str:
    """What was sent, for the refusal record, with the token cut out."""
    body = request.get_data(cache=True)[: settings().refusal_raw_max_chars * 2]
    # Decoded before matching: ``?i%64=qny%5F…`` is the token too (backend/redaction.py).
    line = redact(f"{request.method} {request.full_path}")
    text_ = f"{line}\n{redact(body.decode('utf-8', 'replace'))}"
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


def _phone_request() -> phone_apps.PhoneRequest:
    return phone_apps.PhoneRequest(
        method=request.method,
        mimetype=request.mimetype,
        args=request.args.to_dict(),
        form=request.form.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(cache=True),
    )


def _phone_view(app: phone_apps.PhoneApp) -> Any:
    """The route of one phone app: read the request as the app sends it, check its device
    token (unknown or revoked: 401), then store (a known device always gets the app's 2xx
    answer; refusals are recorded). HEAD is answered and never stored."""

    def view() -> Any:
        received = datetime.now(UTC)
        reading = app.read(_phone_request())
        who = _device(reading.secret)
        status, body, mimetype = app.answer
        answer = current_app.response_class(body, status=status, mimetype=mimetype)
        if request.method == "HEAD":
            return answer
        key = None
        if reading.needs_key:
            with transaction() as session:
                key = devices.owntracks_key_of(session, who.token_id)
        parsed = reading.parse(who.device_person, received, key)
        if parsed:
            _phone_answer(who, parsed, reading.client, reading.secret)
        return answer

    view.__name__ = app.name
    view.__doc__ = app.summary
    return bp.doc(summary=app.summary, description=app.description)(view)


# One route per phone app of the registry (services/phone_apps).
for _app in phone_apps.APPS:
    bp.add_url_rule(
        _app.path.removeprefix("/api/v1"), view_func=_phone_view(_app), methods=list(_app.methods)
    )


@bp.get("/persons/<id:person_id>/last-position")
@bp.auth_required(auth, roles=["analyst", "officer"])
@bp.output(s.LastPositionOut)
@bp.doc(summary="The last known point of a person and its region")
def last_position(person_id: int) -> Any:
    why = purpose()
    who = principal()
    with transaction() as session:
        if not scope.in_scope(session, who, person_id):
            # Registered or permitted in another region (or nowhere): theirs to look for,
            # answered word for word as a person who does not exist.
            raise OutOfScope(f"person {person_id} not found", person_id)
        persons.get_person(session, person_id)
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
    why = purpose()
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
    why = purpose()
    start, end = _period(query)
    with transaction() as session:
        persons.get_person(session, person_id)
        result = tracks.stays_and_trips(session, person_id, start, end, settings())
        record_access(session, "traces.stays", [person_id], why)
    return result
