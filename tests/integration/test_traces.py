"""Ingestion from our batch API, OsmAnd/Traccar Client and OwnTracks; reading tracks."""

import base64
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.db import on_citus, sqlstate
from backend.services.tracking.traces import with_partitions
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """NOW is read when each test starts, not when the module was imported: a point's
    device time long before it reaches the server reads as backfilled."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def iso(t: datetime) -> str:
    return t.isoformat()


def _count(db: Any, person_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM trace_points WHERE person_id = :p"), {"p": person_id}
        ).scalar_one()


def test_batch_keeps_good_points_and_reports_bad_ones(
    client: Any, monitored: dict, db: Any
) -> None:
    points = [
        {"t": iso(NOW - timedelta(minutes=30)), "lat": 51.16, "lon": 71.47, "accuracy_m": 8},
        {"t": iso(NOW - timedelta(minutes=20)), "lat": 95, "lon": 71.47},
        {"t": iso(NOW + timedelta(hours=2)), "lat": 51.16, "lon": 71.47},
        {"t": iso(NOW - timedelta(days=200)), "lat": 51.16, "lon": 71.47},
        {"t": iso(NOW - timedelta(minutes=10)), "lat": 51.16, "lon": 71.47, "accuracy_m": 2e5},
        {"t": "yesterday", "lat": 51.16, "lon": 71.47},
        {
            "t": (NOW - timedelta(minutes=5)).timestamp(),
            "lat": 51.161,
            "lon": 71.471,
            "speed_mps": 1.2,
        },
        {"t": "2026-01-01T00:00:00", "lat": 51.16, "lon": 71.47},
        "not an object",
        {"t": iso(NOW - timedelta(minutes=4)), "lat": "51.16", "lon": None},
    ]
    resp = client.post("/api/v1/traces", json={"points": points}, headers=monitored["headers"])
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["accepted"] == 3 and body["duplicates"] == 0
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 5, 7, 8, 9]
    assert "lat" in reasons[1] and "future" in reasons[2] and "retention" in reasons[3]
    assert "offset" in reasons[7] and "lon" in reasons[9]
    assert _count(db, monitored["person"]["id"]) == 3
    # An accuracy no fix can have is dropped and flagged, as a phone's is: not the point.
    with db.engine.connect() as conn:
        kept = conn.execute(
            text("SELECT accuracy_m, flags FROM trace_points WHERE recorded_at = :t"),
            {"t": NOW - timedelta(minutes=10)},
        ).all()
    assert [(r.accuracy_m, sorted(r.flags)) for r in kept] == [
        (None, ["implausible_field_dropped", "poor_accuracy"])
    ]


def test_a_partial_replay_stores_only_what_is_new(client: Any, monitored: dict, db: Any) -> None:
    """A batch of fresh points is inserted without ON CONFLICT; one that meets points
    already stored (or the same point twice) is moved again with it: counts stay exact."""

    def batch(minutes: range) -> dict:
        return {
            "points": [
                {"t": iso(NOW - timedelta(minutes=m)), "lat": 51.16, "lon": 71.47} for m in minutes
            ]
        }

    headers = monitored["headers"]
    first = client.post("/api/v1/traces", json=batch(range(1, 21)), headers=headers).get_json()
    overlap = client.post("/api/v1/traces", json=batch(range(11, 41)), headers=headers).get_json()
    twice = batch(range(41, 46))
    twice["points"] += twice["points"][:2]
    inner = client.post("/api/v1/traces", json=twice, headers=headers).get_json()
    assert (first["accepted"], first["duplicates"]) == (20, 0)
    assert (overlap["accepted"], overlap["duplicates"]) == (20, 10)
    assert (inner["accepted"], inner["duplicates"]) == (5, 2)
    assert _count(db, monitored["person"]["id"]) == 45


def test_replay_stores_nothing_twice(client: Any, monitored: dict, db: Any) -> None:
    batch = {
        "points": [
            {"t": iso(NOW - timedelta(minutes=m)), "lat": 51.16, "lon": 71.47} for m in range(1, 51)
        ]
    }
    first = client.post("/api/v1/traces", json=batch, headers=monitored["headers"]).get_json()
    again = client.post("/api/v1/traces", json=batch, headers=monitored["headers"]).get_json()
    assert (first["accepted"], first["duplicates"]) == (50, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 50)
    with_key = {**monitored["headers"], "Idempotency-Key": "batch-7"}
    r1 = client.post("/api/v1/traces", json=batch, headers=with_key)
    r2 = client.post("/api/v1/traces", json=batch, headers=with_key)
    assert r1.get_json() == r2.get_json() and r2.status_code == 202
    assert _count(db, monitored["person"]["id"]) == 50


def test_out_of_order_and_late_points(client: Any, monitored: dict, token: Any) -> None:
    h = monitored["headers"]
    times = [NOW - timedelta(minutes=m) for m in (5, 50, 20)]
    client.post(
        "/api/v1/traces",
        json={"points": [{"t": iso(t), "lat": 51.16, "lon": 71.47} for t in times]},
        headers=h,
    )
    late = {"t": iso(NOW - timedelta(days=3)), "lat": 51.6, "lon": 70.9}
    assert (
        client.post("/api/v1/traces", json={"points": [late]}, headers=h).get_json()["accepted"]
        == 1
    )
    pid = monitored["person"]["id"]
    last = client.get(
        f"/api/v1/persons/{pid}/last-position", headers={**token("analyst"), "X-Purpose": "case 1"}
    ).get_json()
    assert last["t"] == iso(NOW - timedelta(minutes=5)) and last["region_kato"] == f.ASTANA_KATO


def test_too_many_points_is_413(client: Any, monitored: dict) -> None:
    point = {"t": iso(NOW), "lat": 51.16, "lon": 71.47}
    resp = client.post(
        "/api/v1/traces", json={"points": [point] * 5001}, headers=monitored["headers"]
    )
    assert resp.status_code == 413 and resp.mimetype == "application/problem+json"


def test_device_cannot_send_for_another_person(client: Any, monitored: dict) -> None:
    point = {"t": iso(NOW), "lat": 51.16, "lon": 71.47, "person_id": monitored["person"]["id"] + 1}
    body = client.post(
        "/api/v1/traces", json={"points": [point]}, headers=monitored["headers"]
    ).get_json()
    assert body["accepted"] == 0 and "own person" in body["rejected"][0]["reason"]


def test_admin_names_the_person_per_point(client: Any, admin: Any, monitored: dict) -> None:
    pid = monitored["person"]["id"]
    points = [
        {"t": iso(NOW - timedelta(minutes=1)), "lat": 51.16, "lon": 71.47, "person_id": pid},
        {"t": iso(NOW - timedelta(minutes=1)), "lat": 51.16, "lon": 71.47, "person_id": 987654},
        {"t": iso(NOW - timedelta(minutes=1)), "lat": 51.16, "lon": 71.47},
    ]
    body = client.post("/api/v1/traces", json={"points": points}, headers=admin).get_json()
    assert body["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (1, "person_id is unknown"),
        (2, "person_id is required on each point for admin uploads"),
    ]


def test_osmand_traccar_client_query(client: Any, monitored: dict, db: Any) -> None:
    ts = int((NOW - timedelta(minutes=3)).timestamp())
    # As Traccar Client sends it: GET with the device identifier in `id`, speed in knots.
    url = (
        f"/api/v1/traces/osmand?id={monitored['secret']}&timestamp={ts}&lat=51.16&lon=71.47"
        "&speed=10.0&bearing=90.0&altitude=350.0&accuracy=12.0&batt=87.0&charge=true"
    )
    resp = client.get(url)
    assert resp.status_code == 200 and resp.get_data() == b""
    with db.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT speed_mps, bearing_deg, accuracy_m, battery_pct, attributes, source FROM trace_points"
            )
        ).one()
    assert abs(row.speed_mps - 5.14444) < 0.001 and row.bearing_deg == 90 and row.accuracy_m == 12
    assert (
        row.battery_pct == 87 and row.attributes == {"charge": "true"} and row.source == "traccar"
    )


def test_osmand_form_post_with_ms_and_iso_timestamps(client: Any, monitored: dict, db: Any) -> None:
    ms = int((NOW - timedelta(minutes=7)).timestamp() * 1000)
    form = {
        "id": monitored["secret"],
        "lat": "51.161",
        "lon": "71.471",
        "timestamp": str(ms),
        "hdop": "1.2",
    }
    assert client.post("/api/v1/traces/osmand", data=form).status_code == 200
    form2 = {
        "id": monitored["secret"],
        "lat": "51.162",
        "lon": "71.472",
        "timestamp": iso(NOW - timedelta(minutes=6)),
    }
    assert client.post("/api/v1/traces/osmand", data=form2).status_code == 200
    assert client.post("/api/v1/traces/osmand", data=form2).status_code == 200  # retry: no double
    assert _count(db, monitored["person"]["id"]) == 2


@pytest.mark.parametrize("secret", ["nope", ""])
def test_osmand_unknown_id_is_401(client: Any, secret: str) -> None:
    resp = client.get(f"/api/v1/traces/osmand?id={secret}&lat=51.16&lon=71.47&timestamp=1700000000")
    assert resp.status_code == 401


def test_osmand_non_device_token_is_refused(client: Any, admin: Any) -> None:
    secret = admin["Authorization"].split()[1]
    resp = client.get(f"/api/v1/traces/osmand?id={secret}&lat=51.16&lon=71.47&timestamp=1700000000")
    assert resp.status_code == 401


def _basic(secret: str, user: str = "jane") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def test_owntracks_http_mode(client: Any, monitored: dict, db: Any) -> None:
    message = {  # an OwnTracks Android location message
        "_type": "location",
        "acc": 12,
        "alt": 350,
        "batt": 85,
        "bs": 1,
        "conn": "w",
        "lat": 51.16,
        "lon": 71.47,
        "tid": "JD",
        "tst": int((NOW - timedelta(minutes=2)).timestamp()),
        "vel": 36,
        "vac": 3,
        "t": "u",
        "created_at": int(NOW.timestamp()),
    }
    resp = client.post(
        "/api/v1/traces/owntracks", json=message, headers=_basic(monitored["secret"])
    )
    assert resp.status_code == 200 and resp.get_json() == []
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT speed_mps, accuracy_m, attributes FROM trace_points")).one()
    assert abs(row.speed_mps - 10) < 0.001 and row.accuracy_m == 12
    assert row.attributes["tid"] == "JD" and row.attributes["conn"] == "w"
    for other in (
        {"_type": "transition", "event": "enter"},
        {"_type": "waypoints"},
        {"_type": "lwt"},
    ):
        assert (
            client.post(
                "/api/v1/traces/owntracks", json=other, headers=_basic(monitored["secret"])
            ).get_json()
            == []
        )
    bearer = client.post("/api/v1/traces/owntracks", json=message, headers=monitored["headers"])
    assert bearer.status_code == 200 and _count(db, monitored["person"]["id"]) == 1


def test_owntracks_wrong_password_is_401(client: Any, monitored: dict) -> None:
    resp = client.post(
        "/api/v1/traces/owntracks", json={"_type": "location"}, headers=_basic("wrong")
    )
    assert resp.status_code == 401
    assert client.post("/api/v1/traces/owntracks", json={"_type": "location"}).status_code == 401


def test_track_geojson_needs_purpose_and_is_audited(
    client: Any, monitored: dict, token: Any, db: Any
) -> None:
    h = monitored["headers"]
    start = NOW - timedelta(days=2)
    points = [
        {
            "t": iso(start + timedelta(minutes=10 * i)),
            "lat": 51.16 + (0.05 if 40 <= i < 60 else 0),
            "lon": 71.47,
        }
        for i in range(100)
    ]
    client.post("/api/v1/traces", json={"points": points}, headers=h)
    pid = monitored["person"]["id"]
    url = f"/api/v1/persons/{pid}/track?from={iso(start - timedelta(hours=1)).replace('+', '%2B')}&to={iso(NOW).replace('+', '%2B')}"
    analyst = token("analyst")
    assert client.get(url, headers=analyst).status_code == 403
    resp = client.get(url, headers={**analyst, "X-Purpose": "case 2026/5"})
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    kinds = [feat["properties"]["kind"] for feat in resp.get_json()["features"]]
    assert kinds.count("point") == 100 and kinds.count("day") >= 1
    assert kinds.count("stay") == 3 and kinds.count("trip") == 2  # home, away, home
    with db.engine.connect() as conn:
        purposes = (
            conn.execute(
                text(
                    "SELECT purpose FROM audit_log WHERE action = 'traces.track'"
                    " AND subject_person_id = :p AND request_id = :r"
                ),
                {"p": pid, "r": resp.headers["X-Request-Id"]},
            )
            .scalars()
            .all()
        )
    assert purposes == ["case 2026/5"]


def test_track_features_and_a_simplified_track(client: Any, monitored: dict, token: Any) -> None:
    """Every fix as a point with its time and accuracy, one line per UTC day; with
    ``simplify`` a walk keeps its ends and its one real turn, and the stays and the trip
    between them (found from every fix) are the same."""
    start = (NOW - timedelta(days=1)).replace(hour=6, minute=0, second=0)
    points = []
    for i in range(140):  # 40 min still, 30 fixes north, 30 east (~110 m apart), 40 still
        north, east = min(max(i - 39, 0), 30), min(max(i - 69, 0), 30)
        points.append(
            {
                "t": iso(start + timedelta(minutes=i)),
                "lat": round(51.10 + north * 0.001, 6),
                "lon": round(71.40 + east * 0.0016, 6),
                "accuracy_m": 5 + i % 3,
            }
        )
    resp = client.post("/api/v1/traces", json={"points": points}, headers=monitored["headers"])
    assert resp.status_code in (200, 201, 202), resp.get_json()
    pid = monitored["person"]["id"]
    span = f"from={iso(start - timedelta(hours=1)).replace('+', '%2B')}&to={iso(NOW).replace('+', '%2B')}"
    headers = {**token("analyst"), "X-Purpose": "case 2026/7"}
    full = client.get(f"/api/v1/persons/{pid}/track?{span}", headers=headers).get_json()
    shown = [x for x in full["features"] if x["properties"]["kind"] == "point"]
    assert [x["properties"]["t"] for x in shown] == [
        (start + timedelta(minutes=i)).isoformat() for i in range(140)
    ]
    assert shown[31]["geometry"]["coordinates"] == [points[31]["lon"], points[31]["lat"]]
    assert [x["properties"]["accuracy_m"] for x in shown[:3]] == [5, 6, 7]
    days = [x for x in full["features"] if x["properties"]["kind"] == "day"]
    assert [d["properties"]["points"] for d in days] == [140]
    assert len(days[0]["geometry"]["coordinates"]) == 140

    slim = client.get(f"/api/v1/persons/{pid}/track?{span}&simplify=20", headers=headers)
    assert slim.status_code == 200 and slim.mimetype == "application/geo+json"
    body = slim.get_json()
    kept = [x["properties"]["t"] for x in body["features"] if x["properties"]["kind"] == "point"]
    assert kept == [shown[i]["properties"]["t"] for i in (0, 69, 139)]
    line = next(x for x in body["features"] if x["properties"]["kind"] == "day")
    assert line["geometry"]["coordinates"] == [
        shown[i]["geometry"]["coordinates"] for i in (0, 69, 139)
    ]
    assert body["properties"]["simplify_m"] == 20

    def others(collection: dict) -> list:
        return [x for x in collection["features"] if x["properties"]["kind"] in ("stay", "trip")]

    assert [x["properties"]["kind"] for x in others(full)] == ["stay", "stay", "trip"]
    assert others(body) == others(full)
    bad = client.get(f"/api/v1/persons/{pid}/track?{span}&simplify=0", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "simplify"


def test_track_period_is_bounded(client: Any, monitored: dict, token: Any) -> None:
    pid = monitored["person"]["id"]
    url = f"/api/v1/persons/{pid}/track?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z"
    resp = client.get(url, headers={**token("analyst"), "X-Purpose": "x-1"})
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "to"


def test_last_position_for_region_limited_officer(client: Any, monitored: dict, token: Any) -> None:
    client.post(
        "/api/v1/traces",
        json={"points": [{"t": iso(NOW), "lat": 51.16, "lon": 71.47}]},
        headers=monitored["headers"],
    )
    pid = monitored["person"]["id"]
    here = client.get(
        f"/api/v1/persons/{pid}/last-position", headers=token("officer", region_kato=f.ASTANA_KATO)
    )
    there = client.get(
        f"/api/v1/persons/{pid}/last-position", headers=token("officer", region_kato=f.ALMATY_KATO)
    )
    assert here.status_code == 200 and there.status_code == 404


def test_gpx_import(monitored: dict, db: Any, tmp_path: Any, migrated: Any) -> None:
    gpx = tmp_path / "walk.gpx"
    pts = "".join(
        f'<trkpt lat="{51.16 + i * 0.001}" lon="71.47"><ele>350</ele><time>{iso(NOW - timedelta(minutes=30 - i))}</time></trkpt>'
        for i in range(10)
    )
    gpx.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
        f"<trk><trkseg>{pts}</trkseg></trk></gpx>"
    )
    cmd = [
        sys.executable,
        "-m",
        "backend.cli",
        "traces",
        "import-gpx",
        str(gpx),
        "--person",
        str(monitored["person"]["id"]),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "accepted: 10" in out.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "duplicates: 10" in again.stdout
    assert _count(db, monitored["person"]["id"]) == 10


def test_a_write_that_lost_a_deadlock_runs_once_more(db: Any) -> None:
    """Two batches of the same points in other orders (one resent while its first copy
    still runs) deadlock on the unique index: PostgreSQL ends one, which answered 503
    and was logged as a database outage (helper report F6). Here two writes take two
    locks in opposite orders, each in a savepoint of its caller's transaction (as the
    point-by-point path writes): both end, the loser run once more."""

    def write_of(name: str, statement: Any, params: Any, runs: list[str]) -> None:
        with db.transaction() as session:

            def write() -> int:
                runs.append(name)
                with session.begin_nested():
                    session.execute(statement, params)
                return 1

            assert with_partitions(session.connection(), {NOW.date()}, write) == 1

    runs, errors = _deadlock_of_two(db, write_of)
    assert errors == []
    assert sorted(runs) in (["a", "a", "b"], ["a", "b", "b"])  # one of them lost, once


@pytest.mark.parametrize("path", ["clean", "point by point"])
def test_a_batch_whose_person_is_deleted_meanwhile_is_told_so_not_a_500(
    app: Any, client: Any, admin: Any, token: Any, db: Any, path: str
) -> None:
    """The person is looked up, then the points written: a person deleted between the
    two (a merge, an erasure) broke the write's foreign key, a 500 (helper report F9).
    Here the delete is under way when the batch looks (it sees the person), and commits
    while the batch's write waits on it."""
    person = f.person(client, admin)["id"]
    headers = token("device", person_id=person)
    odd = {"accuracy_m": 1e-40} if path == "point by point" else {}
    points = [{"t": iso(NOW - timedelta(minutes=k)), "lat": 51.16, "lon": 71.47, **odd}
              for k in range(1, 4)]  # fmt: skip
    answer: list[Any] = []
    with db.engine.connect() as deleting:
        deleting.begin()
        deleting.execute(text("DELETE FROM persons WHERE id = :p"), {"p": person})
        sender = threading.Thread(
            target=lambda: answer.append(
                app.test_client().post("/api/v1/traces", json={"points": points}, headers=headers)
            )
        )
        sender.start()
        waiting = text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
        h.wait_for(lambda: not sender.is_alive() or h.scalars(db, waiting.text)[0] > 0)
        deleting.commit()
        sender.join(timeout=60)
    [resp] = answer
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    with db.engine.connect() as conn:
        citus = on_citus(conn)
    if citus and body["accepted"] == 3:
        # Citus checks the key on the worker's copy of persons, which the delete had not
        # locked yet: the write went in first, and says so (trace_points has no key).
        assert body["rejected"] == [] and _count(db, person) == 3
        return
    assert body["accepted"] == 0
    assert [r["reason"] for r in body["rejected"]] == ["person_id is unknown"] * 3
    assert _count(db, person) == 0


def _deadlock_of_two(db: Any, write_of: Any) -> tuple[list[str], list[BaseException]]:
    """Two writes, each one statement taking two locks in opposite orders, set off
    together: a third connection holds both locks until both wait, so that each then
    gets its first and waits for the other's (a deadlock, whoever loses). ``write_of``
    runs a write's statement through what is tested; the runs and errors come back."""
    runs: list[str] = []
    errors: list[BaseException] = []

    def writer(name: str, first: int, second: int) -> None:
        statement = text("SELECT pg_advisory_xact_lock(7425, :a), pg_advisory_xact_lock(7425, :b)")
        try:
            write_of(name, statement, {"a": first, "b": second}, runs)
        except BaseException as exc:  # the test reads it
            errors.append(exc)

    waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    with db.engine.connect() as gate, gate.begin():
        gate.execute(text("SELECT pg_advisory_xact_lock(7425, 1), pg_advisory_xact_lock(7425, 2)"))
        threads = [
            threading.Thread(target=writer, args=("a", 1, 2)),
            threading.Thread(target=writer, args=("b", 2, 1)),
        ]
        for thread in threads:
            thread.start()
        h.wait_for(lambda: h.scalars(db, waiting)[0] >= 2)
    for thread in threads:
        thread.join(timeout=60)
    return runs, errors


def test_an_autocommit_write_that_lost_a_deadlock_runs_once_more(db: Any) -> None:
    """As the phones and a device's clean batch write: one autocommit statement."""

    def write_of(name: str, statement: Any, params: Any, runs: list[str]) -> None:
        with db.autocommit.connect() as conn:

            def write() -> int:
                runs.append(name)
                conn.execute(statement, params)
                return 1

            assert with_partitions(conn, {NOW.date()}, write) == 1

    runs, errors = _deadlock_of_two(db, write_of)
    assert errors == [] and sorted(runs) in (["a", "a", "b"], ["a", "b", "b"])


def test_a_deadlock_that_ended_the_callers_transaction_is_the_callers(db: Any) -> None:
    """Written in the caller's transaction itself, not a savepoint: the deadlock ended
    it, and nothing may run in it again."""

    def write_of(name: str, statement: Any, params: Any, runs: list[str]) -> None:
        with db.engine.connect() as conn, conn.begin():

            def write() -> int:
                runs.append(name)
                conn.execute(statement, params)
                return 1

            with_partitions(conn, {NOW.date()}, write)

    runs, errors = _deadlock_of_two(db, write_of)
    assert sorted(runs) == ["a", "b"]
    assert [sqlstate(e) for e in errors] == ["40P01"]
