"""Late points while their day is being closed hold up no one else.

The maintenance job closes a day two days on (``trace_storage.compact_closed``): CLUSTER
locks the day's partition, then the spatial index build locks out its writes, for as long
as the day is large (minutes at national scale). A phone's backlog for that day meets the
lock. Before: the late point led its process's shared phone write, every phone arriving
meanwhile queued behind it, and after 5 s all of them got 503 and the database was
logged as down; a batch on the transaction engine waited for the whole CLUSTER, holding
one of the worker's threads. Now a write into a closed day waits for its day's lock a
moment only (``trace_storage.CLOSED_DAY_LOCK_WAIT``) and on its own: 503 ``day_closing``
with Retry-After to its sender, nothing to anyone else, no outage.

A second connection, as the tables' owner, holds the lock CLUSTER takes (on Citus, on the
day's shards, where the job clusters them). Each test checks what the requests met *while
the lock is still held*: nothing here is timed. On Citus the lock on one partition held
every write of every day before (Citus locks every partition for a write into the
parent): there the job now clusters shard by shard and builds the index concurrently.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DataError, OperationalError

from backend import outages
from backend.db import on_citus, sqlalchemy_url
from backend.services.tracking import alert_rules, alert_store, phone_ingest, trace_storage
from backend.services.tracking.phone_ingest import group_of
from backend.services.tracking.traces import with_partitions
from tests import factories as f
from tests import helpers as h
from tests.fixtures import phones

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

NOW = datetime.now(UTC).replace(microsecond=0)
CLOSED_DAY = NOW.date() - timedelta(days=3)
NOON = datetime(CLOSED_DAY.year, CLOSED_DAY.month, CLOSED_DAY.day, 12, tzinfo=UTC)


def _fresh_partition(db: Any, day: Any) -> None:
    """``day``'s partition made anew: closed, not yet clustered nor indexed."""
    h.drop_partition(db, day)
    trace_storage.create_partitions(db.engine, day, day)


@contextmanager
def _day_being_closed(migrated: Any, db: Any, fresh: bool = True) -> Iterator[None]:
    """The closed day's partition, not yet compacted, locked as CLUSTER locks it, until
    the block ends; on Citus its shards, on the workers, where ``compact_closed``
    clusters them. ``fresh``: the partition made anew first (else it holds points)."""
    if fresh:
        _fresh_partition(db, CLOSED_DAY)
    name = trace_storage.partition_name(CLOSED_DAY)
    owner = urlsplit(sqlalchemy_url(migrated.database_url))
    with ExitStack() as stack:
        engine = create_engine(owner.geturl())
        stack.callback(engine.dispose)
        with engine.connect() as conn:
            if on_citus(conn):
                shards = conn.execute(
                    text(
                        "SELECT nodename, nodeport, shard_name(logicalrelid, shardid)"
                        " FROM pg_dist_shard JOIN pg_dist_placement USING (shardid)"
                        " JOIN pg_dist_node USING (groupid)"
                        " WHERE logicalrelid = CAST(:t AS regclass)"
                    ),
                    {"t": name},
                ).all()
            else:
                shards = [(None, None, name)]
        for host, port, table in shards:
            where = (
                owner
                if host is None
                else owner._replace(netloc=f"{owner.netloc.rsplit('@', 1)[0]}@{host}:{port}")
            )
            holder = create_engine(where.geturl())
            stack.callback(holder.dispose)
            conn = stack.enter_context(holder.connect())
            stack.enter_context(conn.begin())
            if host is not None:  # a shard, which Citus keeps from hand-made changes
                conn.execute(text("SET LOCAL citus.enable_manual_changes_to_shards = on"))
            conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        yield


_WAITING_ON_A_LOCK = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
    " WHERE NOT l.granted AND a.datname = current_database() AND a.application_name = 'qonys'"
)


def _late_then_live(db: Any, late: Any, *live: Any) -> list[Any]:
    """``late()`` in a thread of its own, as gunicorn's threads run requests; once it has
    answered or waits on the day's lock, each of ``live`` in a thread of its own. Every
    answer, late first, once each has come (one that never comes fails the test)."""
    out: list[Any] = [None] * (1 + len(live))

    def run(i: int, call: Any) -> None:
        try:
            out[i] = call()
        except Exception as exc:  # the test reads it
            out[i] = exc

    def waiting() -> bool:
        with db.engine.connect() as conn:
            return bool(conn.execute(_WAITING_ON_A_LOCK).scalar_one())

    first = threading.Thread(target=run, args=(0, late))
    first.start()
    h.wait_for(lambda: not first.is_alive() or waiting(), timeout=10, every=0.01)
    rest = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(live, start=1)]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a request never got its answer"
    return out


def _device(client: Any, admin: Any, token: Any) -> tuple[int, str]:
    person = f.person(client, admin)
    return person["id"], token("device", person_id=person["id"])["Authorization"].split()[1]


def _points_of(db: Any, person: int, open_days_only: bool = False) -> list[Any]:
    """The person's points; while the day is locked, of the open days only (reading the
    locked day would wait for it, as any reader of a day being clustered does)."""
    since = NOW - timedelta(days=1) if open_days_only else datetime(2000, 1, 1, tzinfo=UTC)
    return h.scalars(
        db,
        "SELECT recorded_at FROM trace_points WHERE person_id = :p AND recorded_at >= :since"
        " ORDER BY 1",
        p=person,
        since=since,
    )


def _is_day_closing(resp: Any) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.headers["Retry-After"].isdigit()
    problem = resp.get_json()
    assert problem["code"] == "day_closing"
    assert CLOSED_DAY.isoformat() in problem["detail"]


def test_a_late_phone_holds_no_other_phone_while_its_day_is_closed(
    app: Any, db: Any, migrated: Any, client: Any, admin: Any, token: Any
) -> None:
    """Through the whole app (the phone lane, as gunicorn runs it): a late OsmAnd point
    and three live phones at once, all in one process's group commit. The live ones are
    stored and answered 200 while the day is still locked; the late one is told to come
    back, and is stored when it does."""
    late_person, late = _device(client, admin, token)
    live = [_device(client, admin, token) for _ in range(3)]
    outages.DATABASE.ok()
    shared_before = group_of(db).stats.items  # the process's group outlives one test

    def phone(secret: str, at: datetime) -> Any:
        return phones.send(app.test_client(), phones.osmand_template(secret, at))

    with _day_being_closed(migrated, db):
        answers = _late_then_live(
            db,
            lambda: phone(late, NOON),
            *[lambda s=s: phone(s, NOW - timedelta(minutes=5)) for _, s in live],
        )
        # Still held: every live phone was answered and stored meanwhile.
        assert [a.status_code for a in answers[1:]] == [200, 200, 200]
        for person, _ in live:
            assert len(_points_of(db, person, open_days_only=True)) == 1
        _is_day_closing(answers[0])
        assert not outages.DATABASE.down  # a busy day is not an outage
    assert _points_of(db, late_person) == []
    # The day closed: the phone sends its point again, as it does after any 503.
    assert phone(late, NOON).status_code == 200
    assert _points_of(db, late_person) == [NOON]
    # The late point never joined the process's shared write: only the live ones did.
    assert group_of(db).stats.items - shared_before == 3


@pytest.mark.parametrize("keyed", [True, False], ids=["Idempotency-Key", "no key"])
@pytest.mark.parametrize("path", ["clean", "point by point"])
def test_a_late_batch_is_told_to_come_back_without_holding_a_thread(
    app: Any,
    db: Any,
    migrated: Any,
    client: Any,
    admin: Any,
    token: Any,
    path: str,
    keyed: bool,
) -> None:
    """A device's backlog for the day being closed, by the batch API's clean path (one
    autocommit statement) and its point-by-point path (a transaction): 503
    ``day_closing`` while the day is still locked, with a live batch stored beside it;
    sent again once the day is closed (with the same Idempotency-Key, if it had one),
    stored. A clean batch without a key is the batch lane's (``api/batch_lane.py``),
    with one Flask's idempotency."""
    late_person, late = _device(client, admin, token)
    live_person, live = _device(client, admin, token)
    # A value too small for ``real`` sends a batch the long way (point by point).
    odd = {"accuracy_m": 1e-40} if path == "point by point" else {}
    backlog = [{"t": (NOON + timedelta(minutes=k)).isoformat(), "lat": 51.16, "lon": 71.47,
                **odd} for k in range(3)]  # fmt: skip
    fresh = [{"t": (NOW - timedelta(minutes=5)).isoformat(), "lat": 51.16, "lon": 71.47, **odd}]
    key = {"Idempotency-Key": f"late-{path}"} if keyed else {}

    def batch(secret: str, points: list[dict[str, Any]], extra: dict[str, str]) -> Any:
        headers = {"Authorization": f"Bearer {secret}", **extra}
        return app.test_client().post("/api/v1/traces", json={"points": points}, headers=headers)

    outages.DATABASE.ok()
    with _day_being_closed(migrated, db):
        held, beside = _late_then_live(
            db, lambda: batch(late, backlog, key), lambda: batch(live, fresh, {})
        )
        assert beside.status_code == 202 and beside.get_json()["accepted"] == 1
        assert len(_points_of(db, live_person, open_days_only=True)) == 1
        _is_day_closing(held)
        assert not outages.DATABASE.down
    assert _points_of(db, late_person) == []
    again = batch(late, backlog, key)
    assert again.status_code == 202, again.get_json()
    assert again.get_json()["accepted"] == 3
    assert len(_points_of(db, late_person)) == 3


def test_a_clean_batch_across_days_meets_the_day_being_closed_between_them(
    app: Any, db: Any, migrated: Any, client: Any, admin: Any, token: Any
) -> None:
    """A device's backlog from a day already closed, over the day being closed, to
    yesterday (open): the day between is neither its first nor its last, and it too is
    waited for a moment only and named."""
    person, secret = _device(client, admin, token)
    before = CLOSED_DAY - timedelta(days=1)
    _fresh_partition(db, before)
    trace_storage.compact_closed(db.engine, today=NOW.date(), limit=100)
    span = [NOON - timedelta(days=1), NOON, NOON + timedelta(days=2)]
    backlog = [{"t": t.isoformat(), "lat": 51.16, "lon": 71.47} for t in span]

    def batch() -> Any:
        headers = {"Authorization": f"Bearer {secret}"}
        return app.test_client().post("/api/v1/traces", json={"points": backlog}, headers=headers)

    with _day_being_closed(migrated, db):
        (held,) = _late_then_live(db, batch)
        _is_day_closing(held)
        assert before.isoformat() not in held.get_json()["detail"]
    assert _points_of(db, person) == []
    again = batch()
    assert again.status_code == 202 and again.get_json()["accepted"] == 3


def test_an_administrators_upload_into_a_closed_day_is_told_to_come_back(
    app: Any, db: Any, migrated: Any, client: Any, admin: Any
) -> None:
    """An administrator's upload names its persons (the transaction path): 503
    ``day_closing`` while the day is locked, nothing of it stored, then stored."""
    person = f.person(client, admin)["id"]
    points = [{"person_id": person, "t": NOON.isoformat(), "lat": 51.16, "lon": 71.47}]
    with _day_being_closed(migrated, db):
        (held,) = _late_then_live(
            db,
            lambda: app.test_client().post(
                "/api/v1/traces", json={"points": points}, headers=admin
            ),
        )
        _is_day_closing(held)
    assert _points_of(db, person) == []
    resp = client.post("/api/v1/traces", json={"points": points}, headers=admin)
    assert resp.status_code == 202 and resp.get_json()["accepted"] == 1


def test_only_a_day_being_closed_gives_up_early(db: Any) -> None:
    """The short wait is for a day the job may still be closing: not for an open day, nor
    for a closed day already compacted (late points for it go into the phones' shared
    write again). After a write, the pooled connection is back at the autocommit
    engine's own wait."""
    _fresh_partition(db, CLOSED_DAY)
    yesterday = NOW.date() - timedelta(days=1)

    def wait_within(days: set[Any]) -> str:
        with db.autocommit.connect() as conn:
            with trace_storage.closed_day_writes(conn, days):
                wait = conn.execute(text("SHOW lock_timeout")).scalar_one()
            assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "5s"
        return str(wait)

    assert wait_within({CLOSED_DAY}) == trace_storage.CLOSED_DAY_LOCK_WAIT
    assert wait_within({yesterday}) == "5s"
    # In a caller's transaction, the wait it had set for itself comes back after.
    with db.engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL lock_timeout = '2s'"))
        with trace_storage.bounded_wait(conn, [CLOSED_DAY]):
            assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "100ms"
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "2s"
    assert trace_storage.partition_name(CLOSED_DAY) in trace_storage.compact_closed(
        db.engine, today=NOW.date(), limit=100
    )
    assert wait_within({CLOSED_DAY}) == "5s"
    trace_storage.forget_known_partitions()  # another process: asks the catalog
    assert wait_within({CLOSED_DAY}) == "5s"


def test_the_job_leaves_a_day_being_read_to_a_later_run(db: Any) -> None:
    """Queued behind a long reader of a closed day (an analyst's track), the job's
    exclusive lock would hold every later reader and writer of the day as long. It waits
    a moment only and leaves the day to a later run, closing the next day meanwhile (on
    plain PostgreSQL: on Citus the next day's index is built concurrently, which waits
    for every older transaction, the reader's too). Once the reader is done, the day is
    closed as well."""
    read, other = NOW.date() - timedelta(days=21), NOW.date() - timedelta(days=20)
    for day in (read, other):
        _fresh_partition(db, day)
    read_name, other_name = map(trace_storage.partition_name, (read, other))
    with db.engine.connect() as conn:
        citus = on_citus(conn)
    # Only these two days and older are closed for the job (``today``).
    today = (read if citus else other) + trace_storage.CLOSED_AFTER
    with db.engine.connect() as reader, reader.begin():
        reader.execute(text(f"SELECT count(*) FROM {read_name}")).scalar_one()
        done = trace_storage.compact_closed(db.engine, today=today, limit=100, lock_wait="200ms")
        assert read_name not in done
        assert citus or other_name in done
    done = trace_storage.compact_closed(db.engine, today=other + timedelta(days=2), limit=100)
    assert read_name in done


def test_on_citus_closing_a_day_locks_nothing_a_write_waits_for(db: Any) -> None:
    """On Citus a write into ``trace_points`` locks every partition on the coordinator:
    a lock there on one day held every write of every day. Clustering a day takes none
    stronger than SHARE UPDATE EXCLUSIVE there (the shards are clustered on the
    workers); its index is built CONCURRENTLY, which takes no stronger lock either."""
    with db.engine.connect() as conn:
        if not on_citus(conn):
            pytest.skip("Citus only: on PostgreSQL a day's lock holds that day's writes only")
    day = NOW.date() - timedelta(days=22)
    _fresh_partition(db, day)
    name = trace_storage.partition_name(day)
    with db.engine.connect() as conn, conn.begin():
        pkey = conn.execute(
            text(
                "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                " WHERE x.indrelid = CAST(:t AS regclass) AND x.indisprimary"
            ),
            {"t": name},
        ).scalar_one()
        trace_storage._cluster_closed(conn, name, pkey, True, "5s")
        held = conn.execute(
            text(
                "SELECT DISTINCT mode FROM pg_locks WHERE pid = pg_backend_pid()"
                " AND relation = CAST(:t AS regclass)"
            ),
            {"t": name},
        ).scalars()
        assert set(held) <= {"AccessShareLock", "ShareUpdateExclusiveLock"}
        clustered = conn.execute(
            text(
                "SELECT result FROM run_command_on_placements(CAST(:t AS regclass),"
                " $$SELECT bool_and(indisclustered) FROM pg_index"
                " WHERE indrelid = '%s'::regclass AND indisprimary$$)"
            ),
            {"t": name},
        ).scalars()
        assert set(clustered) == {"t"}


def test_an_offline_track_into_a_day_being_closed_is_refused_in_a_sentence(
    db: Any, migrated: Any, client: Any, admin: Any, tmp_path: Any
) -> None:
    """`qonys traces import-gpx`: a track of the day being closed ends with the reason
    and a non-zero exit, not a stack trace; nothing of it is stored."""
    person = f.person(client, admin)["id"]
    gpx = tmp_path / "walk.gpx"
    gpx.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="test"'
        ' xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        f'<trkpt lat="51.16" lon="71.47"><time>{NOON.isoformat()}</time></trkpt>'
        "</trkseg></trk></gpx>"
    )
    command = [sys.executable, "-m", "backend.cli", "traces", "import-gpx", str(gpx)]
    with _day_being_closed(migrated, db):
        done = subprocess.run([*command, "--person", str(person)], capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"the points of {CLOSED_DAY.isoformat()} are being reorganised" in done.stderr
    assert _points_of(db, person) == []


def test_a_merge_moving_points_of_a_day_being_closed_is_decided_again_later(
    app: Any, db: Any, migrated: Any, client: Any, admin: Any
) -> None:
    """Deciding that two records are one person moves the older record's points: one
    of a day being closed answers 503 ``day_closing`` within a moment (the merge held
    the persons' and their devices' rows meanwhile: every phone of those devices waited
    with it), and nothing of the merge stays; decided again, it merges."""
    body = {"surname_cyrillic": "Жанұзақов", "given_name_cyrillic": "Айдос",
            "birth_date": "1990-01-15", "sex": "M", "citizenship": "CHN",
            "category": "kandas"}  # fmt: skip
    older = f.created(client.post("/api/v1/persons", json=body, headers=admin))
    point = {"person_id": older["id"], "t": NOON.isoformat(), "lat": 51.16, "lon": 71.47}
    _fresh_partition(db, CLOSED_DAY)
    stored = client.post("/api/v1/traces", json={"points": [point]}, headers=admin)
    assert stored.status_code == 202 and stored.get_json()["accepted"] == 1
    real = f.created(
        client.post(
            "/api/v1/persons",
            json={**body, "citizenship": "KAZ", "iin": f.valid_iin(date(1990, 1, 15), "M")},
            headers=admin,
        )
    )
    assert [c["person_id"] for c in real["duplicate_candidates"]] == [older["id"]]
    review = client.get("/api/v1/duplicates?status=open", headers=admin).get_json()["items"][0]
    decision = {"decision": "same", "reason": "one man: passport and ID card seen"}

    def decide() -> Any:
        return app.test_client().post(
            f"/api/v1/duplicates/{review['id']}/decision", json=decision, headers=admin
        )

    with _day_being_closed(migrated, db, fresh=False):
        (held,) = _late_then_live(db, decide)
        _is_day_closing(held)
    assert _points_of(db, older["id"]) == [NOON]
    assert (
        client.get(f"/api/v1/persons/{older['id']}", headers=admin).get_json()["id"]
        == (older["id"])
    )
    decided = decide()
    assert decided.status_code == 200, decided.get_json()
    assert _points_of(db, real["id"]) == [NOON]


@pytest.mark.parametrize("what", ["track", "stays"])
def test_an_analyst_reading_a_day_being_closed_is_told_to_ask_again(
    app: Any, db: Any, migrated: Any, client: Any, admin: Any, token: Any, what: str
) -> None:
    """A person's track (or stays) over a day being closed would wait out the day's
    CLUSTER on one of the API's threads: 503 ``day_closing`` while the day is locked,
    and the track once it is closed. A track of open days only is read meanwhile."""
    person = f.person(client, admin)["id"]
    _fresh_partition(db, CLOSED_DAY)
    points = [{"person_id": person, "t": (NOON + timedelta(minutes=k)).isoformat(),
               "lat": 51.16, "lon": 71.47} for k in range(2)]  # fmt: skip
    assert client.post("/api/v1/traces", json={"points": points}, headers=admin).status_code == 202
    analyst = {**token("analyst"), "X-Purpose": "case 2026/7"}

    def read(start: datetime, end: datetime) -> Any:
        span = f"from={start.isoformat()}&to={end.isoformat()}".replace("+", "%2B")
        return app.test_client().get(f"/api/v1/persons/{person}/{what}?{span}", headers=analyst)

    day_start = NOON - timedelta(hours=12)
    with _day_being_closed(migrated, db, fresh=False):
        held, beside = _late_then_live(
            db,
            lambda: read(day_start, day_start + timedelta(days=1)),
            lambda: read(NOW - timedelta(hours=1), NOW),
        )
        assert beside.status_code == 200, beside.get_json()
        assert held.status_code == 503, held.get_data(as_text=True)
        assert held.get_json()["code"] == "day_closing"
        assert "ask again" in held.get_json()["detail"]
    after = read(day_start, day_start + timedelta(days=1))
    assert after.status_code == 200, after.get_json()


def test_the_indicators_are_not_held_by_a_day_being_closed(
    app: Any, db: Any, migrated: Any, token: Any
) -> None:
    """The coverage indicator reads the points of a recent window for every year asked,
    through a join the planner cannot prune ahead: every partition is locked, the day
    being closed too, and the dashboard's indicators waited out the CLUSTER on a thread.
    While the day is locked they answer 503 ``day_closing`` (ask again) at once."""
    analyst = token("analyst")
    with _day_being_closed(migrated, db):
        (answer,) = _late_then_live(
            db, lambda: app.test_client().get("/api/v1/indicators", headers=analyst)
        )
        assert answer.status_code == 503, answer.get_data(as_text=True)
        assert answer.get_json()["code"] == "day_closing"
    assert app.test_client().get("/api/v1/indicators", headers=analyst).status_code == 200


def test_a_late_point_whose_statement_the_server_forgot_is_planned_again_and_stored(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    """The phone statement is prepared once per connection. When the server no longer
    holds it (after a migration, a restart behind a pooler), an autocommit write plans it
    again and runs it; inside the transaction of a day being closed it could not, and the
    late phone got 500. Now it is planned again once that transaction has ended."""
    _fresh_partition(db, CLOSED_DAY)
    person, late = _device(client, admin, token)
    held = [db.autocommit.connect() for _ in range(db.autocommit.pool.size())]
    for conn in held:  # every pooled connection believes it holds them; the server does not
        known = conn.connection.info.setdefault("qonys.prepared", set())
        known.update(statement.name for statement in phone_ingest._WRITES.values())
        conn.exec_driver_sql("DEALLOCATE ALL")
    for conn in held:
        conn.close()
    answer = phones.send(app.test_client(), phones.osmand_template(late, NOON))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert _points_of(db, person) == [NOON]


def _marked(db: Any, client: Any, admin: Any, overstayers: int, others: int = 0) -> list[int]:
    """Persons marked for evaluation: ``overstayers`` foreigners whose permit ended ten
    days ago (every point since counts: their evaluation reads the closed day), then
    ``others`` without a permit (evaluated without reading points)."""
    today = NOW.date()
    persons = [f.person(client, admin)["id"] for _ in range(overstayers + others)]
    for person in persons[:overstayers]:
        f.permit(
            client,
            admin,
            person,
            valid_from=(today - timedelta(days=40)).isoformat(),
            valid_to=(today - timedelta(days=10)).isoformat(),
        )
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO alert_dirty (person_id) SELECT unnest(CAST(:p AS bigint[]))"),
            {"p": persons},
        )
    return persons


def test_alert_evaluation_leaves_a_person_whose_points_reach_a_day_being_closed(
    db: Any, migrated: Any, client: Any, admin: Any
) -> None:
    """A worker's alert evaluation that reads a day being closed waited out the whole
    CLUSTER, and the audit seal, the outbox and users' jobs behind it on the worker. Now
    the slice leaves that person marked, evaluates the others, and ends while the day is
    still locked; the person is evaluated once the day is closed."""
    overstayer, _other = _marked(db, client, admin, overstayers=1, others=1)
    with _day_being_closed(migrated, db):
        (slice_,) = _late_then_live(
            db, lambda: alert_rules.evaluate_slice(db, migrated, budget_s=None)
        )
        assert slice_ == (1, False), slice_  # the other person; nothing left for this slice
        assert h.scalars(db, "SELECT person_id FROM alert_dirty") == [overstayer]
    assert alert_rules.evaluate_slice(db, migrated, budget_s=None) == (1, False)
    assert h.count(db, "alert_dirty") == 0


def test_an_evaluation_slice_keeps_its_budget_when_every_person_waits_for_a_closing_day(
    db: Any, migrated: Any, client: Any, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Persons skipped for a day being closed count against the slice's budget: with
    every marked person's points reaching the locked day, a slice of no budget tries one
    and hands the rest to the next slice (re-enqueued behind what waits), instead of
    walking every mark while the day stays locked. A slice that leaves them says so in
    one line, not one a person."""
    overstayers = _marked(db, client, admin, overstayers=3)
    with _day_being_closed(migrated, db):
        (slice_,) = _late_then_live(db, lambda: alert_rules.evaluate_slice(db, migrated, 0.0))
        assert slice_ == (0, True), slice_
        assert sorted(h.scalars(db, "SELECT person_id FROM alert_dirty")) == sorted(overstayers)
        caplog.clear()
        with caplog.at_level("INFO", logger="qonys.alerts"):
            (slice_,) = _late_then_live(
                db, lambda: alert_rules.evaluate_slice(db, migrated, budget_s=None)
            )
        assert slice_ == (0, False), slice_
        lines = [r.getMessage() for r in caplog.records if r.name == "qonys.alerts"]
        assert lines == ["alert evaluation: 3 person(s) left marked while a day is being closed"]


def test_while_a_day_is_being_closed_evaluation_still_waits_for_a_persons_own_lock(
    db: Any, migrated: Any, client: Any, admin: Any
) -> None:
    """Only the reads of points wait a moment for a day being closed. The person's own
    evaluation lock, held by another evaluation (a worker SIGKILLed a moment ago, whose
    session is still ending), is waited for as ever: the person is evaluated, not left
    marked with no evaluation to come."""
    (person,) = _marked(db, client, admin, overstayers=0, others=1)
    out: list[Any] = [None]
    with _day_being_closed(migrated, db), db.engine.connect() as other, other.begin() as held:
        other.execute(
            text("SELECT pg_advisory_xact_lock(:c, :k)"),
            {"c": alert_store.EVAL_LOCK_CLASS, "k": person},
        )
        evaluation = threading.Thread(
            target=lambda: out.__setitem__(0, alert_rules.evaluate_slice(db, migrated, None))
        )
        evaluation.start()
        h.wait_for(lambda: h.scalars(db, _WAITING_ON_A_LOCK.text)[0] > 0, timeout=10, every=0.01)
        evaluation.join(timeout=0.5)  # longer than a closing day's wait: still waiting
        assert evaluation.is_alive()
        held.rollback()
        evaluation.join(timeout=30)
    assert not evaluation.is_alive() and out[0] == (1, False), out[0]
    assert h.count(db, "alert_dirty") == 0


def test_a_connection_lost_at_the_commit_of_a_closing_days_write_is_an_outage(
    db: Any,
) -> None:
    """A write into a day being closed runs in a transaction of its own; when the
    connection died before its COMMIT, the error was looked into through the connection,
    which raised SQLAlchemy's PendingRollbackError instead: a 500 with a traceback, where
    an outage is a 503 (helper report F4). The outage's own error now comes out."""
    _fresh_partition(db, CLOSED_DAY)

    def write_then_lose_the_connection(conn: Any) -> Any:
        def write() -> int:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with db.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
            return 1

        return write

    with db.autocommit.connect() as conn, pytest.raises(OperationalError) as lost:
        with_partitions(conn, {CLOSED_DAY}, write_then_lose_the_connection(conn))
    assert lost.value.connection_invalidated or "terminat" in str(lost.value).lower()


def test_a_callers_wait_comes_back_after_a_write_that_failed_in_a_savepoint(db: Any) -> None:
    """A write into a day being closed, in a savepoint of the caller's transaction, that
    failed (and may be run again): the transaction goes on, with the wait it had, not
    the 100 ms of the write (which a retry would then have "restored")."""
    with db.engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL lock_timeout = '2s'"))
        with (
            pytest.raises(DataError),
            trace_storage.bounded_wait(conn, [CLOSED_DAY]),
            conn.begin_nested(),
        ):
            conn.execute(text("SELECT 1 / 0"))
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "2s"


def test_a_row_lock_on_a_closed_day_is_waited_for_when_no_one_closes_the_day(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    """Two copies of one backlog for a closed day not yet compacted: the second met the
    first's row lock, ran out the 100 ms wait meant for the day's compaction, and was
    told ``day_closing`` though no job ran (both attack rounds, F6). With no one holding
    the day itself, it now waits for the row as any write does, and is stored."""
    with db.engine.connect() as conn:
        if on_citus(conn):
            pytest.skip("on Citus the day's lock is on the workers' shards: day_closing stands")
    _fresh_partition(db, CLOSED_DAY)
    person, secret = _device(client, admin, token)
    point = {"t": NOON.isoformat(), "lat": 51.16, "lon": 71.47}
    with db.engine.connect() as first, first.begin():
        first.execute(
            text(
                "INSERT INTO trace_points (person_id, recorded_at, received_at, geom, source)"
                " VALUES (:p, :t, now(), ST_SetSRID(ST_MakePoint(71.47, 51.16), 4326), 'batch')"
            ),
            {"p": person, "t": NOON},
        )
        answer: list[Any] = []
        second = threading.Thread(
            target=lambda: answer.append(
                app.test_client().post(
                    "/api/v1/traces",
                    json={"points": [point]},
                    headers={"Authorization": f"Bearer {secret}"},
                )
            )
        )
        second.start()
        h.wait_for(lambda: not second.is_alive() or bool(h.scalars(db, _WAITING_ON_A_LOCK.text)[0]))
        time.sleep(0.5)  # past the 100 ms wait: the write now waits again, for the row
        first.rollback()  # the first copy did not go in after all
        second.join(timeout=60)
    [resp] = answer
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["accepted"] == 1
    assert _points_of(db, person) == [NOON]
