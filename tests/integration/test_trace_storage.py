"""Partitions ahead, retention behind — while ingestion keeps running."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.services import trace_storage
from tests import factories as f

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
    assert any("brin" in i for i in indexes) and any("gist" in i for i in indexes)


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


def test_closed_partitions_are_clustered_once(db: Any, migrated: Any) -> None:
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
    done = trace_storage.compact_closed(db.engine, limit=100)
    assert trace_storage.partition_name(old) in done
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
