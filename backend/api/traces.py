"""Movement traces: our batch API, the phone apps of the registry (services/phone_apps:
Traccar Client, OsmAnd, OwnTracks, GPSLogger); reading tracks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apiflask import APIBlueprint
from flask import current_app, request

from backend import schemas as s
from backend.api.batch_lane import store_clean
from backend.api.context import (
    audit_context,
    auth,
    principal,
    purpose,
    record_access,
    request_id,
    settings,
    transaction,
)
from backend.api.idempotent import idempotent
from backend.api.lanes import unknown_tokens
from backend.api.limits import within_batch_limit
from backend.api.phone_lane import answer_phone, kick_alerts, phone_request
from backend.errors import Invalid, OutOfScope, QonysError
from backend.services.access import scope
from backend.services.access.tokens import Principal
from backend.services.register import persons
from backend.services.tracking import phone_apps, traces, tracks
from backend.services.tracking.trace_points import point_from_batch

bp = APIBlueprint("traces", __name__, url_prefix="/api/v1", tag="Movement traces")


class TooManyPoints(QonysError):
    status = 413
    code = "too_many_points"


def _store(who: Principal, raws: list[Any], build: Any, source: str) -> traces.IngestResult:
    device = who.person_id if who.role == "device" else None  # its points take the fast path
    with transaction() as session:
        result = traces.ingest(session, raws, build, source, settings(), device_person=device)
        # An admin's upload names the persons point by point: each is audited.
        record_access(session, f"traces.ingest.{source}", sorted(result.persons) or [who.person_id])
    if result.accepted:
        kick_alerts(current_app.extensions)
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
            return store_clean(current_app.extensions, audit_context(), person, clean), 202
    build = partial(point_from_batch, person_id=person)
    result = _store(who, points, build, "batch")
    return result, 202


def _phone_view(app: phone_apps.PhoneApp) -> Any:
    """The route of one phone app (:func:`phone_lane.answer_phone`): a known device always
    gets the app's 2xx answer (refusals are recorded); unknown or revoked, 401."""

    def view() -> Any:
        received = datetime.now(UTC)
        status, body, mimetype = answer_phone(
            current_app.extensions,
            app,
            phone_request(request),
            request.full_path,
            request_id(),
            received,
            unknown_tokens(request.environ),
        )
        return current_app.response_class(body, status=status, mimetype=mimetype)

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
