"""The phone lane (backend/api/phone_lane.py) answers every real phone app's request
exactly as the Flask route does and stores the same; what it cannot answer goes to
Flask untouched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from werkzeug.test import EnvironBuilder

from backend.api.lanes import Lane, finish
from backend.app import create_app
from backend.services.tracking import phone_ingest
from backend.services.tracking.phone_apps import APPS, gpslogger
from tests import factories as f
from tests.fixtures import phones

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

Build = Callable[[str, datetime], phones.Request]


def _gpslogger_url(secret: str) -> str:
    """The Custom URL enrolment hands the officer for GPSLogger, with its placeholders."""
    return gpslogger.custom_url("https://qonys.example.kz", secret)


CLIENTS: dict[str, Build] = {
    "traccar-android-legacy": phones.traccar_android_legacy,
    "traccar-ios-legacy": phones.traccar_ios_legacy,
    "traccar-9-json": phones.traccar_v9_json,
    "traccar-10-form": phones.traccar_v10_form,
    "osmand-4": phones.osmand_template,
    "owntracks-android": phones.owntracks_android,
    "owntracks-ios": phones.owntracks_ios,
    "gpslogger-get": lambda s, t: phones.gpslogger(_gpslogger_url(s), t),
    "gpslogger-form": lambda s, t: phones.gpslogger(
        _gpslogger_url(s).split("&", 1)[0],
        t,
        "POST",
        phones.GPSLOGGER_BODY_FORM,
        "application/x-www-form-urlencoded",
    ),
    "gpslogger-json": lambda s, t: phones.gpslogger(
        _gpslogger_url(s).split("&", 1)[0],
        t,
        "POST",
        phones.GPSLOGGER_BODY_JSON,
        "application/json",
    ),
}
# What differs from one request to the next, whichever path answers it.
PER_REQUEST = {"X-Request-Id"}


@pytest.fixture
def since(db: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one())


@pytest.fixture
def lane(app: Any) -> Iterator[Any]:
    found = app.extensions["qonys.phone_lane"]
    yield found
    found.enabled = True


def _device(client: Any, admin: Any, token: Any) -> tuple[int, str]:
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    secret = token("device", person_id=person["id"])["Authorization"].split()[1]
    return person["id"], secret


def _stored(db: Any, person_id: int, since: int) -> list[dict[str, Any]]:
    """The person's points, and the audit rows after ``since`` (the audit log is
    append-only: earlier tests' rows, of persons with the same ids, are still there)."""
    with db.engine.connect() as conn:
        points = conn.execute(
            text(
                "SELECT recorded_at, ST_AsText(geom) AS geom, accuracy_m, speed_mps,"
                " bearing_deg, altitude_m, battery_pct, source, attributes, flags"
                " FROM trace_points WHERE person_id = :p ORDER BY recorded_at"
            ),
            {"p": person_id},
        )
        audit = conn.execute(
            text(
                "SELECT role, action, subject_person_id, purpose FROM audit_log"
                " WHERE subject_person_id = :p AND action LIKE 'traces.%' AND id > :since"
                " ORDER BY id"
            ),
            {"p": person_id, "since": since},
        )
        return [dict(r._mapping) for r in points] + [dict(r._mapping) for r in audit]


def _send(client: Any, lane: Any, request: phones.Request, through_lane: bool) -> Any:
    lane.enabled = through_lane
    taken = lane.taken
    try:
        resp = phones.send(client, request)
    finally:
        lane.enabled = True
    assert lane.taken == taken + (1 if through_lane else 0), "the lane did not take it"
    return resp


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_each_real_client_is_answered_and_stored_as_flask_does(
    client: Any, admin: Any, token: Any, db: Any, lane: Any, since: int, name: str
) -> None:
    build = CLIENTS[name]
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    (fast_person, fast_secret), (slow_person, slow_secret) = (
        _device(client, admin, token),
        _device(client, admin, token),
    )
    for shift in (0, 0, 60):  # a point, its resend (a duplicate), the next point
        fast = _send(client, lane, build(fast_secret, t + timedelta(seconds=shift)), True)
        slow = _send(client, lane, build(slow_secret, t + timedelta(seconds=shift)), False)
        assert (fast.status_code, fast.data) == (slow.status_code, slow.data) == (200, fast.data)
        assert fast.status == slow.status  # the reason phrase too
        assert {k: v for k, v in fast.headers.items() if k not in PER_REQUEST} == {
            k: v for k, v in slow.headers.items() if k not in PER_REQUEST
        }
    stored_fast, stored_slow = _stored(db, fast_person, since), _stored(db, slow_person, since)
    assert len([r for r in stored_fast if "geom" in r]) == 2
    assert [r["action"] for r in stored_fast if "action" in r]  # the device's audit row
    for a, b in zip(stored_fast, stored_slow, strict=True):
        if "subject_person_id" in a:
            assert (a["subject_person_id"], b["subject_person_id"]) == (fast_person, slow_person)
            a, b = {**a, "subject_person_id": 0}, {**b, "subject_person_id": 0}
        assert a == b
    for secret in (fast_secret, slow_secret):
        assert all(secret not in str(row) for row in stored_fast + stored_slow)


def test_an_unknown_device_and_a_head_are_answered_as_before(
    client: Any, admin: Any, token: Any, db: Any, lane: Any, since: int
) -> None:
    person, secret = _device(client, admin, token)
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    unknown = phones.osmand_template("qny_not-a-token", t)
    taken = lane.taken
    refused = phones.send(client, unknown)
    assert lane.taken == taken  # Flask answered it
    lane.enabled = False
    before = phones.send(client, unknown)
    lane.enabled = True
    assert refused.status_code == before.status_code == 401
    assert refused.mimetype == before.mimetype == "application/problem+json"
    _method, path, headers, _body = phones.osmand_template(secret, t)
    head = client.open(path, method="HEAD", headers=headers)
    assert head.status_code == 200 and head.data == b"" and lane.taken == taken  # Flask's
    assert _stored(db, person, since) == []  # a HEAD is answered, never stored


def test_a_device_over_its_limit_is_answered_200_and_counted_once(
    migrated: Any, admin: Any, token: Any, client: Any, db: Any
) -> None:
    person, secret = _device(client, admin, token)
    app = create_app(replace(migrated, device_rate_limit="3/minute"))
    limited, lane = app.test_client(), app.extensions["qonys.phone_lane"]
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    codes = [
        phones.send(limited, phones.osmand_template(secret, t + timedelta(seconds=k))).status_code
        for k in range(5)
    ]
    assert codes == [200] * 5 and lane.taken == 5
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM trace_points WHERE person_id = :p"), {"p": person}
        ).scalar_one()
        over = conn.execute(
            text(
                "SELECT count(*) FROM trace_refusals r JOIN api_tokens t ON t.id = r.token_id"
                " WHERE t.person_id = :p AND r.reason LIKE 'over the device rate%'"
            ),
            {"p": person},
        ).scalar_one()
    assert (stored, over) == (3, 2)
    app.extensions["qonys.db"].dispose()


@pytest.mark.parametrize("extra", ["&note=%00", "&no%00te=x"])
def test_a_nul_from_any_phone_app_is_no_4xx_on_either_path(
    client: Any, admin: Any, token: Any, lane: Any, extra: str
) -> None:
    """A known phone is never refused with a 4xx; GPSLogger was left out of the NUL rule's
    exemption, so Flask alone answered it 422."""
    _person, secret = _device(client, admin, token)
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    method, path, headers, body = CLIENTS["gpslogger-get"](secret, t)
    fast = _send(client, lane, (method, path + extra, headers, body), True)
    slow = _send(client, lane, (method, path + extra, headers, body), False)
    assert fast.status_code == slow.status_code == 200


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (OperationalError("INSERT", {}, psycopg2.OperationalError("server closed")), 503),
        (RuntimeError("a fault after the write"), 500),
    ],
)
def test_a_fault_is_answered_once_by_flasks_handlers(
    client: Any,
    admin: Any,
    token: Any,
    db: Any,
    lane: Any,
    monkeypatch: Any,
    fault: Any,
    status: int,
) -> None:
    """An outage or a fault after the points were written: answered as Flask answers it,
    and the request is not run a second time (no refusal or alert written twice)."""
    person, secret = _device(client, admin, token)
    calls: list[int] = []
    real = phone_ingest.ingest_phone

    def faulty(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        real(*args, **kwargs)
        raise fault

    monkeypatch.setattr(phone_ingest, "ingest_phone", faulty)
    t = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    resp = phones.send(client, phones.osmand_template(secret, t))
    assert resp.status_code == status and resp.mimetype == "application/problem+json"
    assert resp.get_json()["request_id"] == resp.headers["X-Request-Id"]
    assert calls == [1]
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM trace_points WHERE person_id = :p"), {"p": person}
        ).scalar_one()
    assert stored == 1


_ANSWERS = sorted(
    {a.answer for a in APPS}
    | {(202, "", "text/plain"), (204, "", "text/plain"), (299, "x", "text/plain")}
)


@pytest.mark.parametrize(("status", "text_", "mimetype"), _ANSWERS)
def test_the_lanes_own_answer_is_what_the_apps_response_class_writes(
    app: Any, status: int, text_: str, mimetype: str
) -> None:
    """Every phone app's answer, and statuses werkzeug writes otherwise (204 without a
    length, an unknown code): the same status line, headers in order and body."""
    environ = EnvironBuilder(path="/api/v1/traces/osmand").get_environ()
    heard: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> None:
        heard.append((status_line, list(headers)))

    lane = Lane(lambda e, s: [], app)
    body = b"".join(lane.done_text(environ, start_response, status, text_, mimetype, "rid"))
    response = finish(app.response_class(text_, status=status, mimetype=mimetype), "rid")
    wanted = b"".join(response(environ, start_response))
    assert heard[0] == heard[1]
    assert body == wanted
    assert lane.taken == 1
