"""A device's batch whose every point is clean is stored whole from its JSON
(trace_points.clean_batch, traces.ingest_clean): what it stores must be exactly what the
point-by-point path stores, and every batch it cannot vouch for goes that path."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.services.tracking import traces
from backend.services.tracking.trace_points import clean_batch, parse_time
from backend.settings import Settings
from tests import factories as f

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

_ROW = """
SELECT recorded_at, received_at, ST_X(geom), ST_Y(geom), accuracy_m, speed_mps,
       bearing_deg, altitude_m, battery_pct, source, attributes, flags
FROM trace_points WHERE person_id = :p ORDER BY recorded_at
"""


def _points(now: datetime) -> list[dict[str, Any]]:
    """Clean points of every shape a phone writes: integers for numbers, nulls, other
    offsets and forms of time, a poor fix, points late enough to be backfilled, a zero,
    numbers with an exponent."""
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    return [
        {"t": ago(300).isoformat(), "lat": 51.16, "lon": 71.47, "accuracy_m": 8},
        {
            "t": ago(62).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "lat": 51.1601,
            "lon": 71.4702,
            "accuracy_m": 2500.5,
            "speed_mps": 0,
            "bearing_deg": 359.9,
            "altitude_m": -12.25,
            "battery_pct": 100,
        },
        {"t": ago(61).astimezone(UTC).isoformat(), "lat": 43.25, "lon": 76.95, "speed_mps": None},
        {
            "t": ago(30).astimezone(datetime.now().astimezone().tzinfo).isoformat(),
            "lat": -0.0,
            "lon": 0,
            "battery_pct": 0.5,
        },
        {
            "t": (ago(2) + timedelta(hours=5)).replace(tzinfo=None).isoformat() + "+05:00",
            "lat": 51.17,
            "lon": 71.48,
            "altitude_m": 0.0,
            # Numbers JSON writes with an exponent, as PostgreSQL's array literal reads them.
            "speed_mps": 1e-7,
            "bearing_deg": 1.5e-5,
        },
    ]


def _stored(db: Any, person_id: int) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(_ROW), {"p": person_id})]


def _audit_mark(db: Any) -> int:
    """The newest audit row's id: the log outlives each test, and ids of persons recur."""
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one())


def _audited(db: Any, person_id: int, since: int) -> list[tuple[Any, ...]]:
    """The audit rows of uploads about a person: actor (its kind), role, action, and
    whether the request's id is kept."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT split_part(actor, ':', 1), role, action, request_id IS NOT NULL"
                " FROM audit_log WHERE subject_person_id = :p AND action LIKE 'traces.%'"
                " AND id > :since"
                " ORDER BY id"
            ),
            {"p": person_id, "since": since},
        )
        return [tuple(r) for r in rows]


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which path each batch took: "whole" (ingest_clean) or "point by point" (ingest)."""
    taken: list[str] = []
    whole, by_point = traces.ingest_clean, traces.ingest

    def spy(name: str, real: Any) -> Any:
        return lambda *a, **k: taken.append(name) or real(*a, **k)

    monkeypatch.setattr(traces, "ingest_clean", spy("whole", whole))
    monkeypatch.setattr(traces, "ingest", spy("point by point", by_point))
    return taken


def test_a_clean_batch_stores_what_point_by_point_stores(
    client: Any, admin: Any, token: Any, db: Any, paths: list[str]
) -> None:
    """The same points from two devices: one batch clean (stored whole), the other with
    one point that is not (so stored point by point, that point reported). The same
    rows to the last flag and microsecond, the same counts on a replay, one audit row
    per upload either way."""
    since = _audit_mark(db)
    now = datetime.now(UTC)
    points = _points(now)
    # Then, a minute after the last, a point 1,000 km away: a jump from the stored last
    # position, flagged on storing.
    far = [{"t": (now - timedelta(seconds=30)).isoformat(), "lat": 43.25, "lon": 76.95}]
    answers: dict[str, list[Any]] = {}
    persons = {}
    for path, extra in (("whole", []), ("point by point", ["not an object"])):
        person = f.person(client, admin)["id"]
        persons[path] = person
        headers = token("device", person_id=person)
        for batch in (points, points, far):  # the second, a replay: all duplicates
            resp = client.post("/api/v1/traces", json={"points": batch + extra}, headers=headers)
            assert resp.status_code == 202
            answers.setdefault(path, []).append(resp.get_json())
    whole, by_point = answers["whole"], answers["point by point"]
    counts = [(a["accepted"], a["duplicates"]) for a in whole]
    assert counts == [(5, 0), (0, 5), (1, 0)]
    assert [(a["accepted"], a["duplicates"]) for a in by_point] == counts
    assert all(a["rejected"] == [] for a in whole)
    assert [a["rejected"] for a in by_point] == [
        [{"index": 5, "reason": "each point must be an object"}],
        [{"index": 5, "reason": "each point must be an object"}],
        [{"index": 1, "reason": "each point must be an object"}],
    ]
    whole_rows, by_point_rows = (_stored(db, persons[p]) for p in ("whole", "point by point"))
    assert [r[:1] + r[2:] for r in whole_rows] == [r[:1] + r[2:] for r in by_point_rows]
    assert len(whole_rows) == 6
    flags = [row[-1] or [] for row in whole_rows]
    assert "poor_accuracy" in flags[1] and "backfilled" in flags[0]
    assert flags[5] == ["implausible_jump"]
    assert whole_rows[4][7] == 0.0 and whole_rows[3][8] == 0.5  # altitude 0, battery 0.5
    assert paths == ["whole"] * 3 + ["point by point"] * 3
    uploads = [("token", "device", "traces.ingest.batch", True)] * 3
    whole_audit = _audited(db, persons["whole"], since)
    assert whole_audit == _audited(db, persons["point by point"], since) == uploads


# Times in forms Python reads and PostgreSQL would read otherwise, or not at all: each
# must be stored as the point-by-point path reads it (trace_points.parse_time).
ODD_TIMES = [
    "{day}T10:00:00,5+00:00",  # a decimal comma
    "{day}T10:00:00+18:00",  # an offset past PostgreSQL's 15:59
    "{day}T23:59:59.9999999+00:00",  # a seventh decimal (Python cuts, PostgreSQL rounds)
    "{day} 11:00:00+05:00",  # a space for the T
    "{week}T12:00:00+00:00",  # an ISO week date
]


def test_times_are_stored_as_python_reads_them(
    client: Any, admin: Any, token: Any, db: Any, paths: list[str]
) -> None:
    day = datetime.now(UTC).date() - timedelta(days=2)
    year, week, weekday = day.isocalendar()
    times = [t.format(day=day, week=f"{year}-W{week:02d}-{weekday}") for t in ODD_TIMES]
    points = [{"t": t, "lat": 51.16, "lon": 71.47 + k * 1e-4} for k, t in enumerate(times)]
    stored = {}
    for path, extra in (("whole", []), ("point by point", ["not an object"])):
        person = f.person(client, admin)["id"]
        resp = client.post(
            "/api/v1/traces",
            json={"points": points + extra},
            headers=token("device", person_id=person),
        )
        assert resp.status_code == 202 and resp.get_json()["accepted"] == len(times)
        stored[path] = sorted(row[0] for row in _stored(db, person))
    assert paths == ["whole", "point by point"]
    assert stored["whole"] == stored["point by point"] == sorted(map(parse_time, times))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"lat": True}, "a boolean for a number"),
        ({"lat": 90.5}, "a latitude beyond 90"),
        ({"accuracy_m": 1e9}, "an accuracy beyond the maximum"),
        ({"speed_mps": -1}, "a negative speed"),
        ({"altitude_m": 123456789012345678901234567890}, "an integer of 30 digits"),
        ({"battery_pct": 1e-35}, "a value too small for a real column"),
        ({"t": 1764892800}, "epoch seconds"),
        ({"t": "2026-12-04T10:00:00"}, "a time without an offset"),
        ({"t": "yesterday"}, "no time at all"),
        ({"t": "1999-01-01T00:00:00+00:00"}, "a time beyond retention"),
        ({"person_id": 2}, "another person's id"),
        ({"person_id": None}, "a null person id"),
        ({"person_id": 18446744073709551617}, "an id beyond 64 bits"),
    ],
)
def test_a_batch_with_one_doubtful_point_goes_point_by_point(
    app: Any, change: dict[str, Any], why: str
) -> None:
    settings: Settings = app.extensions["qonys.settings"]
    now = datetime.now(UTC)
    points = _points(now)
    window = (now - timedelta(days=1), now + timedelta(minutes=1))
    assert clean_batch(json.dumps({"points": points}).encode(), 1, *window, settings), why
    points[2] = {**points[2], **change}
    assert clean_batch(json.dumps({"points": points}).encode(), 1, *window, settings) is None, why


def test_bodies_it_cannot_read_go_point_by_point(app: Any) -> None:
    settings: Settings = app.extensions["qonys.settings"]
    now = datetime.now(UTC)
    window = (now - timedelta(days=1), now + timedelta(minutes=1))
    point = b'{"t": "%s", "lat": 51, "lon": 71}' % now.isoformat().encode()
    for body in (
        b'{"points": []}',
        b'{"points": [' + point + b', "not an object"]}',
        b'{"points": [' + point.replace(b"51", b"NaN") + b"]}",
        b'{"points": {"t": 1}}',
        b"[]",
        b"\xff\xfe",
    ):
        assert clean_batch(body, 1, *window, settings) is None, body


def test_through_the_api_a_clean_batch_and_its_replay(
    client: Any, monitored: dict, db: Any
) -> None:
    now = datetime.now(UTC)
    points = _points(now)
    headers = monitored["headers"]
    first = client.post("/api/v1/traces", json={"points": points}, headers=headers)
    late = {"t": (now - timedelta(minutes=1)).isoformat(), "lat": 51.18, "lon": 71.49}
    again = client.post("/api/v1/traces", json={"points": [*points[1:], late]}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.get_json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    assert again.get_json() == {"accepted": 1, "duplicates": 4, "rejected": []}
    assert len(_stored(db, monitored["person"]["id"])) == 6


def test_a_point_naming_its_own_device_stays_clean(app: Any) -> None:
    settings: Settings = app.extensions["qonys.settings"]
    now = datetime.now(UTC)
    points = [{**p, "person_id": 7} for p in _points(now)]
    window = (now - timedelta(days=1), now + timedelta(minutes=1))
    clean = clean_batch(json.dumps({"points": points}).encode(), 7, *window, settings)
    assert clean is not None and clean[1] == 5
    assert clean[0]["t"].count(",") == 4  # five times: each point kept, its device implied


def test_a_clean_batch_of_a_person_gone_from_the_register(
    client: Any, monitored: dict, db: Any
) -> None:
    """The person left the register after their device was given its token: nothing is
    stored, each point is reported, and the upload is audited as any other."""
    person = monitored["person"]["id"]
    since = _audit_mark(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM persons WHERE id = :p"), {"p": person})
    points = _points(datetime.now(UTC))
    resp = client.post("/api/v1/traces", json={"points": points}, headers=monitored["headers"])
    assert resp.status_code == 202
    assert resp.get_json() == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [{"index": i, "reason": "person_id is unknown"} for i in range(5)],
    }
    assert _stored(db, person) == []
    assert _audited(db, person, since) == [("token", "device", "traces.ingest.batch", True)]
