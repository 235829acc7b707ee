"""Alerts from traces: dwell before firing, closing on return, silence, residence, expiry."""

import os
import signal
import subprocess
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend import clock
from backend.services import policy
from backend.services.tracking import alert_rules, residence, trace_storage
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """NOW is read when each test starts, not when the module was imported: a point's
    device time long before it reaches the server reads as backfilled."""
    global NOW
    NOW = datetime.now(UTC).replace(second=0, microsecond=0)


ASTANA = (51.16, 71.47)
AKMOLA = (51.60, 70.90)  # outside Astana city, in Akmola region


def _open(db: Any, kind: str | None = None) -> list[Any]:
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT person_id, kind, region_kato, details FROM alerts WHERE status = 'open'"
                " AND (CAST(:k AS text) IS NULL OR kind = :k) ORDER BY id"
            ),
            {"k": kind},
        ).all()


@pytest.fixture
def worker_person(client: Any, admin: Any, token: Any) -> dict[str, Any]:
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    f.permit(client, admin, person["id"], region_kato=f.ASTANA_KATO)
    return {"person": person, "headers": token("device", person_id=person["id"])}


def test_short_trip_no_alert_long_trip_alert_return_closes(
    client: Any, app: Any, worker_person: dict, db: Any
) -> None:
    device = worker_person["headers"]
    start = NOW - timedelta(hours=70)
    # A day at home with a 2-hour trip out of the permit region: no alert.
    h.send_points(client, device, h.route(start, [(10, ASTANA), (2, AKMOLA), (8, ASTANA)]))
    h.run_jobs(app)  # the ingest kicked an RQ evaluation job
    assert _open(db) == []
    # 30 hours outside the permit region: the alert opens.
    h.send_points(client, device, h.route(start + timedelta(hours=20), [(30, AKMOLA)]))
    h.run_jobs(app)
    opened = _open(db, "left_permit_region")
    assert len(opened) == 1 and opened[0].region_kato == f.ASTANA_KATO
    assert opened[0].details["region_kato"] == f.ASTANA_KATO
    # More points outside refresh the same alert, never a second one.
    h.send_points(client, device, h.route(start + timedelta(hours=50), [(1, AKMOLA)]))
    h.run_jobs(app)
    assert len(_open(db, "left_permit_region")) == 1
    # Back in the region: closed.
    h.send_points(client, device, h.route(start + timedelta(hours=51), [(5, ASTANA)]))
    h.run_jobs(app)
    assert _open(db, "left_permit_region") == []
    with db.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM alerts WHERE status = 'closed'")).scalar() == 1
        )


def test_permit_expired_present(client: Any, admin: Any, token: Any, app: Any, db: Any) -> None:
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    f.permit(client, admin, person["id"], valid_from="2025-01-01", valid_to="2025-06-30")
    device = token("device", person_id=person["id"])
    h.send_points(client, device, h.route(NOW - timedelta(hours=3), [(2, ASTANA)]))
    h.run_jobs(app)
    opened = _open(db, "permit_expired_present")
    assert len(opened) == 1 and opened[0].details["permit_status"] == "expired"
    f.permit(client, admin, person["id"])  # a new permit in force
    h.send_points(client, device, h.route(NOW - timedelta(minutes=30), [(0.25, ASTANA)]))
    h.run_jobs(app)
    assert _open(db, "permit_expired_present") == []


def test_silent_device_opens_and_closes(
    client: Any, worker_person: dict, db: Any, migrated: Any, app: Any
) -> None:
    pid = worker_person["person"]["id"]
    with db.transaction() as session:
        days = policy.integer(session, "silent_device_working_days")
    quiet_since = alert_rules.working_days_back(NOW, days) - timedelta(hours=2)
    h.send_points(
        client, worker_person["headers"], h.route(quiet_since - timedelta(hours=1), [(1, ASTANA)])
    )
    with db.transaction() as session:
        session.execute(
            text("UPDATE api_tokens SET created_at = :t"), {"t": quiet_since - timedelta(days=10)}
        )
        assert alert_rules.sweep_silent_devices(session)["opened"] == 1
    with db.transaction() as session:
        assert alert_rules.sweep_silent_devices(session)["opened"] == 0  # already open
    assert [a.person_id for a in _open(db, "silent_device")] == [pid]
    h.send_points(
        client, worker_person["headers"], h.route(NOW - timedelta(minutes=20), [(0.25, ASTANA)])
    )
    h.run_jobs(app)
    assert _open(db, "silent_device") == []


def test_working_days_skip_weekends() -> None:
    monday = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert alert_rules.working_days_back(monday, 3) == datetime(2026, 11, 18, 12, tzinfo=UTC)


def test_public_holidays_are_not_working_days() -> None:
    """16 December (Independence Day) does not count towards a silent device's days."""
    thursday = datetime(2026, 12, 17, 12, tzinfo=UTC)
    assert alert_rules.working_days_back(thursday, 3) == datetime(2026, 12, 11, 12, tzinfo=UTC)
    # Nauryz 2026 fills 21-25 March; the silence clock skips the whole week's holidays.
    assert alert_rules.working_days_back(datetime(2026, 3, 26, 12, tzinfo=UTC), 1) == datetime(
        2026, 3, 20, 12, tzinfo=UTC
    )


def test_residence_mismatch(
    client: Any, worker_person: dict, db: Any, app: Any, migrated: Any
) -> None:
    device = worker_person["headers"]
    # Registered in central Astana; four nights spent 20 km away, days in the centre.
    away = (51.16, 71.75)
    # Local time is UTC+5: days 08:00-22:00 in the centre, nights 22:00-08:00 away.
    start = datetime.combine(date.today() - timedelta(days=5), datetime.min.time(), UTC)
    start += timedelta(hours=3)
    legs = []
    for _ in range(4):
        legs += [(14, ASTANA), (10, away)]
    h.send_points(client, device, h.route(start, legs))
    h.run_jobs(app)
    assert _open(db, "residence_mismatch") == []  # nights are compared by the hourly sweep
    assert residence.sweep_residence(db, migrated) == 1
    opened = _open(db, "residence_mismatch")
    assert len(opened) == 1 and opened[0].details["distance_km"] > migrated.residence_mismatch_km
    assert opened[0].details["nights"] >= migrated.residence_min_nights
    # A night back at the registered address closes it (judged on the last day alone).
    h.send_points(client, device, h.route(NOW - timedelta(hours=25), [(24, ASTANA)]))
    last_day = migrated.__class__(
        **{**migrated.__dict__, "residence_lookback_days": 1, "residence_min_nights": 1}
    )
    residence.sweep_residence(db, last_day)
    assert _open(db, "residence_mismatch") == []


def test_late_notice_raises_an_alert_for_its_region(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    bin_ = f.employer(client, admin)
    person = f.person(client, admin)
    start = date.today() - timedelta(days=100)
    permit = f.permit(
        client,
        admin,
        person["id"],
        employer_bin=bin_,
        valid_from=start.isoformat(),
        valid_to=(start + timedelta(days=200)).isoformat(),
    )
    client.post(
        f"/api/v1/employers/{bin_}/termination-notices",
        json={
            "permit_id": permit["id"],
            "last_working_day": (date.today() - timedelta(days=30)).isoformat(),
            "reason": "ушёл",
        },
        headers=token("employer", employer_bin=bin_),
    )
    astana = client.get(
        "/api/v1/alerts?kind=late_termination_notice",
        headers=token("officer", region_kato=f.ASTANA_KATO),
    )
    almaty = client.get("/api/v1/alerts", headers=token("officer", region_kato=f.ALMATY_KATO))
    assert [a["person_id"] for a in astana.get_json()["items"]] == [person["id"]]
    assert almaty.get_json()["items"] == []
    # An officer may narrow by where alerts arose; their scope (the person's region)
    # still bounds what comes back.
    elsewhere = client.get(
        f"/api/v1/alerts?region_kato={f.ALMATY_KATO}",
        headers=token("officer", region_kato=f.ASTANA_KATO),
    )
    assert elsewhere.status_code == 200 and elsewhere.get_json()["items"] == []
    analyst = token("analyst")
    # Alerts name persons: an analyst states the purpose (and is refused without one).
    assert client.get("/api/v1/alerts", headers=analyst).status_code == 403
    analyst = {**analyst, "X-Purpose": "case A-1"}
    alert_id = client.get("/api/v1/alerts", headers=analyst).get_json()["items"][0]["id"]
    resolved = client.post(
        f"/api/v1/alerts/{alert_id}/resolution", json={"reason": "проверено"}, headers=analyst
    )
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "closed"
    assert (
        client.get("/api/v1/alerts?status=closed", headers=analyst).get_json()["items"][0]["id"]
        == alert_id
    )


def test_killed_worker_leaves_no_lost_or_doubled_alert(db: Any, app: Any, migrated: Any) -> None:
    """SIGKILL a real RQ worker in the middle of evaluating 1,500 persons, then restart."""
    n = 1500
    with db.engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO persons (iin, surname, given_name, birth_date, sex, citizenship, category)
                SELECT lpad(g::text, 12, '0'), 'Тест', 'Воркер', '1990-01-01', 'M', 'UZB', 'labour_immigrant'
                FROM generate_series(1, :n) g;
                INSERT INTO permits (number, person_id, region_kato, valid_from, valid_to)
                SELECT 'K-' || id, id, '710000000', current_date - 10, current_date + 100 FROM persons;
                """
            ),
            {"n": n},
        )

    trace_storage.ensure_partitions_for(
        db.engine, {(NOW - timedelta(hours=h)).date() for h in (40, 1)}
    )
    with db.engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO trace_points (person_id, recorded_at, geom, source)
                SELECT p.id, t, ST_SetSRID(ST_MakePoint(70.9, 51.6), 4326), 'test'
                FROM persons p, unnest(ARRAY[CAST(:a AS timestamptz), CAST(:b AS timestamptz)]) t;
                INSERT INTO alert_dirty (person_id) SELECT id FROM persons;
                """
            ),
            {"a": NOW - timedelta(hours=40), "b": NOW - timedelta(hours=1)},
        )
    queue = app.extensions["qonys.queue"]
    env = dict(os.environ, DATABASE_URL=migrated.database_url, REDIS_URL=migrated.redis_url)

    def worker() -> subprocess.Popen:
        queue.enqueue("backend.jobs.alerts.evaluate_dirty", job_timeout=600)
        return h.worker_process(migrated.redis_url, queue.name, env)

    proc = worker()
    deadline = time.time() + 60
    while time.time() < deadline and len(_open(db)) < 50:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial_count = len(_open(db))
    assert 0 < partial_count < n, partial_count
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alert_dirty")).scalar() > 0
    proc = worker()
    proc.wait(timeout=300)
    opened = _open(db, "left_permit_region")
    assert len(opened) == n
    assert len({a.person_id for a in opened}) == n
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alert_dirty")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM alerts")).scalar() == n


def test_a_permit_ends_at_midnight_in_almaty_not_utc(
    client: Any, admin: Any, token: Any, app: Any, db: Any
) -> None:
    """A permit valid to day D ends at 00:00 on D+1 in Kazakhstan (19:00 UTC on D).

    A phone seen at 23:30 local on D is lawful; at 00:30 local it is present without a
    permit — though both moments are still day D in UTC.
    """
    last_day = clock.today() - timedelta(days=5)
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    f.permit(
        client,
        admin,
        person["id"],
        valid_from=(last_day - timedelta(days=60)).isoformat(),
        valid_to=last_day.isoformat(),
    )
    device = token("device", person_id=person["id"])
    local_midnight = datetime.combine(
        last_day + timedelta(days=1), datetime.min.time(), clock.LOCAL_TZ
    )
    assert local_midnight.astimezone(UTC).date() == last_day  # still D in UTC
    h.send_points(client, device, h.route(local_midnight - timedelta(minutes=45), [(0.5, ASTANA)]))
    h.run_jobs(app)
    assert _open(db, "permit_expired_present") == []
    h.send_points(client, device, h.route(local_midnight + timedelta(minutes=30), [(0.25, ASTANA)]))
    h.run_jobs(app)
    assert len(_open(db, "permit_expired_present")) == 1


ALMATY = (43.2567, 76.9286)  # about 970 km from Astana


def test_impossible_jumps_neither_move_region_alerts_nor_the_last_position(
    client: Any, app: Any, worker_person: dict, db: Any, migrated: Any
) -> None:
    """A series in Almaty a minute after a fix in Astana (970 km: no one moves that fast)
    is kept, flagged, and ignored by region alerts; the last position stays in Astana."""
    device, pid = worker_person["headers"], worker_person["person"]["id"]
    start = NOW - timedelta(hours=3)
    h.send_points(client, device, h.route(start, [(1, ASTANA)], step_min=10))
    h.send_points(
        client, device, h.route(start + timedelta(hours=1, minutes=1), [(1, ALMATY)], step_min=5)
    )
    with db.engine.connect() as conn:
        flagged = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE 'implausible_jump' = ANY(flags)), count(*)"
                " FROM trace_points WHERE person_id = :p AND ST_Y(geom) < 45"
            ),
            {"p": pid},
        ).one()
        last = conn.execute(
            text("SELECT ST_Y(geom) FROM trace_last_positions WHERE person_id = :p"), {"p": pid}
        ).scalar_one()
    assert flagged[1] > 0 and flagged[0] == flagged[1]
    assert round(last, 2) == ASTANA[0]
    # With a dwell of half an hour the Almaty hour would open an alert, were it believed.
    short_dwell = replace(migrated, alert_dwell_hours=0.5)
    with db.transaction() as session:
        alert_rules.evaluate_person(session, pid, short_dwell)
    assert _open(db, "left_permit_region") == []
    # A plausible trip (60 km in an hour, to Akmola) still counts with the same settings.
    h.send_points(
        client, device, h.route(start + timedelta(hours=1, minutes=10), [(1, AKMOLA)], step_min=60)
    )
    h.send_points(
        client, device, h.route(start + timedelta(hours=2, minutes=10), [(0.8, AKMOLA)], step_min=5)
    )
    with db.transaction() as session:
        alert_rules.evaluate_person(session, pid, short_dwell)
    assert [a.kind for a in _open(db, "left_permit_region")] == ["left_permit_region"]
