"""The batch lane (backend/api/batch_lane.py) answers a device's clean batch exactly as
Flask does, writes the same rows, and passes everything else on to Flask untouched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from backend.api import batch_lane
from backend.app import create_app
from backend.services.tracking import traces
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

PATH = "/api/v1/traces"
# Each stored point, without what differs between two requests (the receive time).
_ROWS = """
SELECT recorded_at, ST_AsText(geom), accuracy_m, speed_mps, bearing_deg, altitude_m,
       battery_pct, source, attributes, flags
FROM trace_points WHERE person_id = :p ORDER BY recorded_at
"""


@pytest.fixture
def lane(app: Any) -> Iterator[Any]:
    found = app.extensions["qonys.batch_lane"]
    yield found
    found.enabled = True


def _points(now: datetime, minutes: tuple[int, ...] = (240, 61, 3)) -> list[dict[str, Any]]:
    """Clean points: a backfilled one, a poor fix in another offset, a live one."""
    ago = lambda m: now - timedelta(minutes=m)  # noqa: E731
    shapes = [
        {"lat": 51.16, "lon": 71.47, "accuracy_m": 8, "speed_mps": 1.5},
        {"lat": 51.1601, "lon": 71.4702, "accuracy_m": 2500.5, "battery_pct": 40},
        {"lat": 51.1602, "lon": 71.4704, "altitude_m": -12.25, "bearing_deg": 359.9},
    ]
    tz = timezone(timedelta(hours=5))  # Astana's offset, whatever the machine's zone
    return [
        {"t": ago(m).astimezone(tz if k == 1 else UTC).isoformat(), **shapes[k % 3]}
        for k, m in enumerate(minutes)
    ]


def _stored(db: Any, person_id: int) -> dict[str, Any]:
    """The person's points, last position and alert mark."""
    with db.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(_ROWS), {"p": person_id})]
        last = conn.execute(
            text(
                "SELECT recorded_at, ST_AsText(geom), accuracy_m FROM trace_last_positions"
                " WHERE person_id = :p"
            ),
            {"p": person_id},
        ).one_or_none()
        dirty = conn.execute(
            text("SELECT count(*) FROM alert_dirty WHERE person_id = :p"), {"p": person_id}
        ).scalar_one()
    return {"rows": rows, "last": tuple(last) if last else None, "dirty": dirty}


def _audit(db: Any, answer: Any) -> list[dict[str, Any]]:
    """The audit rows of a request, by the id it was answered with."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT split_part(actor, ':', 1) AS actor, role, action, purpose,"
                " client_request_id, subject_person_id IS NOT NULL AS has_subject"
                " FROM audit_log WHERE request_id = CAST(:r AS uuid) ORDER BY id"
            ),
            {"r": answer.headers["X-Request-Id"]},
        ).all()
    return [dict(r._mapping) for r in rows]


def _device(client: Any, admin: Any, token: Any) -> tuple[int, dict[str, str]]:
    person = f.person(client, admin)["id"]
    return person, token("device", person_id=person)


def test_the_lane_answers_and_stores_as_flask_does(
    client: Any, admin: Any, token: Any, db: Any, lane: Any
) -> None:
    """The same batches from two devices, one answered by the lane and one by Flask: the
    same answers and headers, rows to the microsecond and flag, last position, alert
    mark and audit; then a replay (all duplicates) and a point far away (a jump)."""
    now = datetime.now(UTC)
    far = [{"t": (now - timedelta(seconds=30)).isoformat(), "lat": 43.25, "lon": 76.95}]
    answers: dict[str, list[Any]] = {"lane": [], "flask": []}
    persons = {}
    for path in ("lane", "flask"):
        person, headers = _device(client, admin, token)
        persons[path] = person
        lane.enabled = path == "lane"
        taken = lane.taken
        for batch in (_points(now), _points(now), far):
            answers[path].append(
                client.post(
                    PATH, json={"points": batch}, headers={**headers, "X-Request-Id": "app-9"}
                )
            )
        assert lane.taken == taken + (3 if path == "lane" else 0)
    for fast, slow in zip(answers["lane"], answers["flask"], strict=True):
        assert fast.status_code == slow.status_code == 202
        assert fast.get_json() == slow.get_json()
        assert fast.data == slow.data  # the same keys, order and ending
        assert sorted(fast.headers.keys()) == sorted(slow.headers.keys())
        assert {k: v for k, v in fast.headers.items() if k != "X-Request-Id"} == {
            k: v for k, v in slow.headers.items() if k != "X-Request-Id"
        }
        assert _audit(db, fast) == _audit(db, slow)
        assert [a["action"] for a in _audit(db, fast)] == ["traces.ingest.batch"]
        assert _audit(db, fast)[0]["client_request_id"] == "app-9"
    counts = [(a.get_json()["accepted"], a.get_json()["duplicates"]) for a in answers["lane"]]
    assert counts == [(3, 0), (0, 3), (1, 0)]
    stored = _stored(db, persons["lane"])
    assert stored == _stored(db, persons["flask"])
    flags = [row[-1] or [] for row in stored["rows"]]
    assert "backfilled" in flags[0] and "poor_accuracy" in flags[1] and not flags[2]
    assert flags[3] == ["implausible_jump"] and stored["dirty"] == 1


def _batch(now: datetime) -> dict[str, Any]:
    return {"points": _points(now)}


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("a bad point", lambda b, h: ({"points": [*b["points"], {"lat": 91}]}, h, {})),
        ("no points", lambda b, h: ({"points": []}, h, {})),
        ("not a list", lambda b, h: ({"points": {"lat": 1}}, h, {})),
        ("no token", lambda b, h: (b, {}, {})),
        ("a made-up token", lambda b, h: (b, {"Authorization": "Bearer qny_nothing"}, {})),
        ("a replayable upload", lambda b, h: (b, {**h, "Idempotency-Key": "k-1"}, {})),
        ("a query", lambda b, h: (b, h, {"query_string": "x=1"})),
    ],
)
def test_anything_not_plain_is_answered_by_flask_as_before(
    client: Any, admin: Any, token: Any, db: Any, lane: Any, why: str, change: Any
) -> None:
    """Each asked of two devices: one with the lane off, one with it on. The same status
    and answer, and the lane took none."""
    answers = []
    for enabled in (False, True):
        _, headers = _device(client, admin, token)
        body, headers, options = change(_batch(datetime.now(UTC)), headers)
        lane.enabled = enabled
        taken = lane.taken
        answers.append(client.post(PATH, json=body, headers=headers, **options))
        assert lane.taken == taken, why
    before, now = answers
    assert now.status_code == before.status_code, why
    assert now.mimetype == before.mimetype, why
    per_request = {"request_id", "instance"}
    assert {k: v for k, v in now.get_json().items() if k not in per_request} == {
        k: v for k, v in before.get_json().items() if k not in per_request
    }, why


def _raw(now: datetime, tail: bytes) -> bytes:
    """A clean batch's body with ``tail`` spliced in as its last top-level field."""
    return json.dumps(_batch(now)).encode()[:-1] + b", " + tail + b"}"


# Bodies msgspec could read clean (it skips a field it does not know without reading
# it) that the route's JSON parser reads otherwise: each must be answered as by Flask.
RAW_BODIES = [
    ("text that is not UTF-8", lambda now: _raw(now, b'"note": "\xff\xfe"')),
    ("a key that is not UTF-8", lambda now: _raw(now, b'"\xff": 1')),
    ("an integer of 4,301 digits", lambda now: _raw(now, b'"x": ' + b"9" * 4301)),
    (
        "a long run, then deep nesting",
        lambda now: _raw(now, b'"y": 1234567890123456789, "x": ' + b"[" * 940 + b"]" * 940),
    ),
    ("a long run alone", lambda now: _raw(now, b'"y": 1234567890123456789')),
]


@pytest.mark.parametrize(("why", "make"), RAW_BODIES, ids=[w for w, _ in RAW_BODIES])
def test_a_body_the_apps_parser_reads_otherwise_is_flasks(
    client: Any, admin: Any, token: Any, db: Any, lane: Any, why: str, make: Any
) -> None:
    """Found by attacking the lane: not UTF-8 or a 4,301-digit integer in an unknown
    field was stored by the lane where Flask answers 400; so was a run of 19 digits with
    nesting deep enough that the stdlib, which reads such a body, gave up within Flask's
    frames and not the lane's. Each is now Flask's: the same answer and rows."""
    outcomes = []
    for enabled in (False, True):
        person, device = _device(client, admin, token)
        lane.enabled = enabled
        taken = lane.taken
        answer = client.post(
            PATH,
            data=make(datetime.now(UTC)),
            headers={**device, "Content-Type": "application/json"},
        )
        assert lane.taken == taken, why
        body = answer.get_json()
        outcomes.append(
            (
                answer.status_code,
                {k: v for k, v in body.items() if k not in {"request_id", "instance"}},
                len(_stored(db, person)["rows"]),
            )
        )
    assert outcomes[0] == outcomes[1], why


@pytest.mark.parametrize("spelling", ["+{}", "{}_0", " {} "])
def test_a_content_length_is_read_as_werkzeug_reads_it(
    client: Any, admin: Any, token: Any, db: Any, lane: Any, spelling: str
) -> None:
    """``int`` reads "+660" and "6_60" where werkzeug (and so Flask) reads 0: gunicorn
    refuses such a header, another server may not. The lane reads what Flask reads."""
    outcomes = []
    for enabled in (False, True):
        person, device = _device(client, admin, token)
        body = json.dumps(_batch(datetime.now(UTC))).encode()
        lane.enabled = enabled
        answer = client.post(
            PATH,
            data=body,
            headers={**device, "Content-Type": "application/json"},
            environ_overrides={"CONTENT_LENGTH": spelling.format(len(body))},
        )
        outcomes.append((answer.status_code, len(_stored(db, person)["rows"])))
    assert outcomes[0] == outcomes[1]


def test_other_roles_types_and_bodies_go_to_flask(
    client: Any, admin: Any, token: Any, lane: Any
) -> None:
    person, device = _device(client, admin, token)
    raw = json.dumps(_batch(datetime.now(UTC)))
    taken = lane.taken
    points = _batch(datetime.now(UTC))["points"]
    answers = [
        # An administrator's upload names the person point by point.
        client.post(
            PATH,
            json={"points": [{**p, "person_id": person} for p in points]},
            headers=admin,
        ),
        client.post(
            PATH, data=raw, headers={**device, "Content-Type": "application/json; charset=utf-8"}
        ),
        client.post(PATH, data=raw[:-1], headers={**device, "Content-Type": "application/json"}),
        client.post(PATH, data="", headers={**device, "Content-Type": "application/json"}),
        client.post(
            PATH,
            data='{"points": ' + "[" * 3000,
            headers={**device, "Content-Type": "application/json"},
        ),
        client.post(PATH, json=_batch(datetime.now(UTC)), headers=token("officer")),
    ]
    client.set_cookie("qonys_session", "not-signed")  # a browser's: the session is Flask's
    answers.append(client.post(PATH, json=_batch(datetime.now(UTC)), headers=device))
    assert lane.taken == taken
    assert [a.status_code for a in answers] == [202, 202, 400, 422, 400, 403, 202]
    assert [a.get_json()["accepted"] for a in answers if a.status_code == 202] == [3, 3, 3]
    assert all(a.mimetype in ("application/json", "application/problem+json") for a in answers)


def test_more_points_than_the_route_takes_is_flasks_413(
    migrated: Any, admin: Any, token: Any, client: Any
) -> None:
    app = create_app(replace(migrated, trace_max_points=2))
    _, device = _device(client, admin, token)
    answer = app.test_client().post(PATH, json=_batch(datetime.now(UTC)), headers=device)
    assert answer.status_code == 413 and answer.mimetype == "application/problem+json"
    assert app.extensions["qonys.batch_lane"].taken == 0
    app.extensions["qonys.db"].dispose()


def test_the_batch_limit_counts_each_upload_once_on_either_path(
    migrated: Any, admin: Any, token: Any, client: Any
) -> None:
    """3 a minute: a clean batch the lane took, one with a bad point that Flask took
    (the lane passed it on before counting), a clean one; the fourth, clean, is over:
    429 with Retry-After, answered through Flask's handlers."""
    app = create_app(replace(migrated, batch_rate_limit="3/minute"))
    limited, lane = app.test_client(), app.extensions["qonys.batch_lane"]
    _, device = _device(client, admin, token)
    now = datetime.now(UTC)
    bad = {"points": [*_points(now, (50, 40)), {"lat": 91}]}
    codes = [
        limited.post(PATH, json={"points": _points(now, (30, 20))}, headers=device).status_code,
        limited.post(PATH, json=bad, headers=device).status_code,
        limited.post(PATH, json={"points": _points(now, (10, 5))}, headers=device).status_code,
    ]
    over = limited.post(PATH, json={"points": _points(now, (4, 2))}, headers=device)
    assert codes == [202, 202, 202] and lane.taken == 2
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert over.mimetype == "application/problem+json"
    assert over.get_json()["request_id"] == over.headers["X-Request-Id"]
    app.extensions["qonys.db"].dispose()


def test_a_fault_after_the_batch_was_stored_is_a_500_and_never_a_second_store(
    client: Any, admin: Any, token: Any, db: Any, lane: Any, monkeypatch: Any
) -> None:
    """Stored, then the answer fails: 500 through Flask's handlers, and the batch is
    neither stored nor audited a second time (a second store of the same points would
    add no row, so the stores themselves are counted)."""
    person, device = _device(client, admin, token)
    stores: list[int] = []
    real = traces.ingest_clean
    monkeypatch.setattr(traces, "ingest_clean", lambda *a, **k: stores.append(1) or real(*a, **k))
    monkeypatch.setattr(lane, "schema", h.BrokenSchema())
    taken = lane.taken
    # The audit log outlives each test, and the ids of persons recur: rows after this one.
    since = h.scalars(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0]
    resp = client.post(PATH, json=_batch(datetime.now(UTC)), headers=device)
    assert resp.status_code == 500 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["request_id"] == resp.headers["X-Request-Id"]
    assert stores == [1] and lane.taken == taken
    assert len(_stored(db, person)["rows"]) == 3
    audited = h.scalars(
        db,
        "SELECT count(*) FROM audit_log WHERE subject_person_id = :p"
        " AND action = 'traces.ingest.batch' AND id > :since",
        p=person,
        since=since,
    )
    assert audited == [1]


def test_an_outage_is_answered_once_by_flasks_handlers(
    client: Any, admin: Any, token: Any, lane: Any, monkeypatch: Any
) -> None:
    """The database gone under a batch: 503 with Retry-After, as Flask answers it, and
    the batch is not tried a second time through Flask."""
    _, device = _device(client, admin, token)
    calls: list[int] = []

    def gone(*_args: Any, **_kwargs: Any) -> Any:
        calls.append(1)
        raise OperationalError("EXECUTE", {}, psycopg2.OperationalError("server closed"))

    monkeypatch.setattr(traces, "ingest_clean", gone)
    resp = client.post(PATH, json=_batch(datetime.now(UTC)), headers=device)
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.get_json()["request_id"] == resp.headers["X-Request-Id"]
    assert calls == [1]


def test_the_lane_counts_under_the_flask_views_own_name(app: Any) -> None:
    """The limit's key names the view: renaming it would split a token's budget in two."""
    [rule] = [r for r in app.url_map.iter_rules() if r.rule == batch_lane.PATH]
    assert rule.endpoint == batch_lane.ENDPOINT and "POST" in (rule.methods or ())
