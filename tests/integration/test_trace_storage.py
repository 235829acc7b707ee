"""Partitions ahead, retention behind — while ingestion keeps running."""

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend import clock
from backend.services.tracking import trace_storage
from tests import factories as f
from tests import helpers as h
from tests.fixtures import phones

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def test_partitions_are_prepared_ahead(db: Any, migrated: Any) -> None:
    today = datetime.now(UTC).date()
    trace_storage.prepare_ahead(
        db.engine, migrated.trace_retention_days, migrated.trace_partitions_ahead_days
    )
    with db.engine.connect() as conn:
        days = set(trace_storage.existing_partitions(conn))
    assert today + timedelta(days=migrated.trace_partitions_ahead_days) in days
    assert today - timedelta(days=migrated.trace_retention_days) in days
    assert (
        trace_storage.prepare_ahead(
            db.engine, migrated.trace_retention_days, migrated.trace_partitions_ahead_days
        )
        == []
    )
    with db.engine.connect() as conn:
        indexes = (
            conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"),
                {"t": trace_storage.partition_name(today)},
            )
            .scalars()
            .all()
        )
    # The spatial index comes when the day is closed (compact_closed), not while it fills.
    assert any("brin" in i for i in indexes) and not any("gist" in i for i in indexes)


def test_retention_drops_old_partition_while_ingesting(
    app: Any, client: Any, admin: Any, token: Any, db: Any, migrated: Any
) -> None:
    person = f.person(client, admin)
    device = token("device", person_id=person["id"])
    old_day = datetime.now(UTC).date() - timedelta(days=migrated.trace_retention_days + 3)
    trace_storage.create_partitions(db.engine, old_day, old_day)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                """
                INSERT INTO trace_points (person_id, recorded_at, geom, source)
                SELECT :p, CAST(:d AS timestamptz) + g * interval '10 minutes',
                       ST_SetSRID(ST_MakePoint(71.47, 51.16), 4326), 'test'
                FROM generate_series(0, 99) g
                """
            ),
            {"p": person["id"], "d": f"{old_day.isoformat()} 00:00+00"},
        )
    results: list[tuple[int, dict]] = []
    stop = threading.Event()

    def ingest() -> None:
        local = app.test_client()
        now = datetime.now(UTC)
        i = 0
        while not stop.is_set() or i < 5:
            points = [
                {
                    "t": (now - timedelta(seconds=i * 500 + k)).isoformat(),
                    "lat": 51.16,
                    "lon": 71.47,
                }
                for k in range(500)
            ]
            resp = local.post("/api/v1/traces", json={"points": points}, headers=device)
            results.append((resp.status_code, resp.get_json()))
            i += 1

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        dropped = trace_storage.drop_expired(db.engine, migrated.trace_retention_days)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert trace_storage.partition_name(old_day) in dropped
    assert results and all(status == 202 for status, _ in results)
    accepted = sum(body["accepted"] for _, body in results)
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM trace_points WHERE person_id = :p"), {"p": person["id"]}
        ).scalar()
        presence = conn.execute(
            text(
                "SELECT region_kato, points FROM daily_presence WHERE person_id = :p AND day = :d"
            ),
            {"p": person["id"], "d": old_day},
        ).all()
        assert old_day not in trace_storage.existing_partitions(conn)
    assert stored == accepted == 500 * len(results)
    assert [tuple(r) for r in presence] == [(f.ASTANA_KATO, 100)]


def test_closed_partitions_are_clustered_and_indexed_once(db: Any, migrated: Any) -> None:
    today = datetime.now(UTC).date()
    old = today - timedelta(days=5)
    trace_storage.create_partitions(db.engine, old, today)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO persons (iin, surname, given_name, birth_date, sex, citizenship, category)"
                " SELECT lpad(g::text, 12, '0'), 'S', 'G', '1990-01-01', 'M', 'UZB', 'labour_immigrant'"
                " FROM generate_series(1, 50) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO trace_points (person_id, recorded_at, geom, source)"
                " SELECT p.id, CAST(:d AS timestamptz) + k * interval '1 minute', ST_SetSRID(ST_MakePoint(71.47, 51.16), 4326), 't'"
                " FROM persons p, generate_series(0, 99) k"
            ),
            {"d": f"{old.isoformat()} 00:00+00"},
        )
    done = trace_storage.compact_closed(db.engine, today=today, limit=100)
    assert trace_storage.partition_name(old) in done
    # Closed two days after its day (CLOSED_AFTER), not one.
    assert trace_storage.partition_name(today - timedelta(days=2)) in done
    assert trace_storage.partition_name(today - timedelta(days=1)) not in done
    assert trace_storage.partition_name(today) not in done  # still open
    assert trace_storage.partition_name(old) not in trace_storage.compact_closed(
        db.engine, limit=100
    )
    with db.engine.connect() as conn:
        first_person_pages = conn.execute(
            text(
                f"SELECT count(DISTINCT (ctid::text::point)[0]) FROM {trace_storage.partition_name(old)} WHERE person_id = (SELECT min(id) FROM persons)"
            )
        ).scalar()
    assert first_person_pages <= 2
    closed, open_ = trace_storage.partition_name(old), trace_storage.partition_name(today)
    assert _gist_indexes(db, closed) == [trace_storage.geom_index_name(closed)]
    assert _gist_indexes(db, open_) == []
    # A run stopped after the CLUSTER, before the index: the next run builds the index.
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {trace_storage.geom_index_name(closed)}"))
    assert closed in trace_storage.compact_closed(db.engine, limit=100)
    assert _gist_indexes(db, closed) == [trace_storage.geom_index_name(closed)]
    # The aggregation kept before retention can read the closed day by its index.
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(
                text(
                    f"EXPLAIN SELECT count(*) FROM {closed} t JOIN region_parts rp"
                    " ON ST_Intersects(rp.geom, t.geom) WHERE rp.region_kato = :k"
                ),
                {"k": f.ASTANA_KATO},
            ).scalars()
        )
    assert trace_storage.geom_index_name(closed) in plan


def test_a_back_dated_point_for_a_closed_day_is_stored_in_its_index(
    client: Any, admin: Any, token: Any, db: Any, migrated: Any
) -> None:
    """A phone's backlog reaching a day already closed (clustered and indexed): stored,
    by the batch's clean path and the point-by-point one alike, into the day's index."""
    person = f.person(client, admin)
    device = token("device", person_id=person["id"])
    today = datetime.now(UTC).date()
    day = today - timedelta(days=3)
    closed = trace_storage.partition_name(day)
    trace_storage.create_partitions(db.engine, day, today)
    trace_storage.compact_closed(db.engine, limit=100)
    assert _gist_indexes(db, closed) == [trace_storage.geom_index_name(closed)]
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    clean = [
        {"t": (noon + timedelta(minutes=k)).isoformat(), "lat": 51.16, "lon": 71.47}
        for k in range(3)
    ]
    # A value too small for ``real`` sends the batch the long way (point by point).
    odd = [{"t": (noon + timedelta(hours=1)).isoformat(), "lat": 51.17, "lon": 71.48,
            "accuracy_m": 1e-40}]  # fmt: skip
    for points in (clean, odd):
        resp = client.post("/api/v1/traces", json={"points": points}, headers=device)
        assert resp.status_code == 202, resp.get_json()
        assert resp.get_json()["accepted"] == len(points)
    stored = h.scalars(
        db,
        f"SELECT count(*) FROM {closed} WHERE person_id = :p"
        " AND ST_DWithin(geom, ST_SetSRID(ST_MakePoint(71.47, 51.16), 4326), 0.1)",
        p=person["id"],
    )
    assert stored == [4]
    assert _gist_indexes(db, closed) == [trace_storage.geom_index_name(closed)]


def _gist_indexes(db: Any, partition: str) -> list[str]:
    return h.scalars(
        db,
        "SELECT indexname FROM pg_indexes WHERE tablename = :t AND indexdef LIKE '%USING gist%'",
        t=partition,
    )


def test_eight_phones_on_a_day_without_partition_all_get_200(
    app: Any, db: Any, monitored: dict, token: Any, client: Any, admin: Any
) -> None:
    """Issue 27: two threads creating the same day's partition answered one phone 500.
    Eight phones, each its own person, post single points for a day with no partition."""
    moment = datetime.now(UTC) - timedelta(days=3)
    h.drop_partition(db, moment.date())
    secrets = [monitored["secret"]]
    for _ in range(7):
        person = f.person(client, admin)
        secrets.append(token("device", person_id=person["id"])["Authorization"].split()[1])
    barrier = threading.Barrier(len(secrets))
    statuses: list[int] = []

    def phone(secret: str) -> None:
        local = app.test_client()
        barrier.wait()
        statuses.append(
            phones.send(local, phones.traccar_android_legacy(secret, moment)).status_code
        )

    threads = [threading.Thread(target=phone, args=(s,)) for s in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 8
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM trace_points WHERE recorded_at::date = :d"),
            {"d": moment.date()},
        ).scalar()
        refused = conn.execute(text("SELECT count(*) FROM trace_refusals")).scalar()
    assert (stored, refused) == (8, 0)


def test_the_runtime_role_creates_nothing_in_public_but_its_partitions(db: Any) -> None:
    """Issue 28, F16: the app's role has no CREATE on schema public; a day's partition
    still comes (through the owner's function), owned like the parent, and droppable."""
    day = datetime.now(UTC).date() + timedelta(days=400)
    on_citus = bool(os.environ.get("QONYS_TESTS_ON_CITUS"))
    with db.engine.connect() as conn:
        role = conn.scalar(text("SELECT current_user"))
        assert role != "qonys"  # the runtime role, as in production
        # Citus, the documented exception: its workers make the shards as this role.
        assert conn.scalar(text("SELECT has_schema_privilege('public', 'CREATE')")) is on_citus
    if not on_citus:
        with pytest.raises(Exception, match="permission denied"), db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE public.planted (i int)"))
    assert trace_storage.create_partitions(db.engine, day, day) == [
        trace_storage.partition_name(day)
    ]
    name = trace_storage.partition_name(day)
    with db.engine.begin() as conn:
        owner = conn.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = :n"), {"n": name}
        )
        assert owner == role
        conn.execute(text(f"ALTER TABLE trace_points DETACH PARTITION {name}"))
        conn.execute(text(f"DROP TABLE {name}"))
    trace_storage.forget_known_partitions()


def test_the_index_function_makes_a_closed_days_index_only(db: Any, migrated: Any) -> None:
    """The runtime role's way to the closed days' index (migration 0030) takes a day,
    never a name, and refuses a day still being written."""
    today = datetime.now(UTC).date()
    trace_storage.create_partitions(db.engine, today, today)
    with pytest.raises(Exception, match="not closed yet"), db.engine.begin() as conn:
        conn.execute(text("SELECT qonys_index_trace_partition(:d)"), {"d": today})
    assert _gist_indexes(db, trace_storage.partition_name(today)) == []
    long_ago = today - timedelta(days=4000)  # no such partition: nothing made
    with db.engine.begin() as conn:
        made = conn.scalar(text("SELECT qonys_index_trace_partition(:d)"), {"d": long_ago})
    assert made is None


def test_the_job_closes_a_day_only_an_hour_after_the_writers_do(
    db: Any, migrated: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API hosts treat a day as closed from midnight UTC two days on (their late writes
    into it wait a moment only); the job locks it only from an hour later, so a host
    whose clock runs behind the job host's by less than that never meets the CLUSTER
    with the 5 s wait of an open day."""
    day = datetime.now(UTC).date() - timedelta(days=6)
    h.drop_partition(db, day)
    trace_storage.create_partitions(db.engine, day, day)
    name = trace_storage.partition_name(day)
    closed_at = datetime(day.year, day.month, day.day, tzinfo=UTC) + trace_storage.CLOSED_AFTER
    assert trace_storage.closed_days({day}, (closed_at + timedelta(minutes=1)).date()) == [day]
    monkeypatch.setattr(clock, "now", lambda: closed_at + timedelta(minutes=59))
    assert name not in trace_storage.compact_closed(db.engine, limit=100)
    monkeypatch.setattr(clock, "now", lambda: closed_at + timedelta(minutes=61))
    assert name in trace_storage.compact_closed(db.engine, limit=100)
