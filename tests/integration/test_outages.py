"""Outages answered as outages: a database that cannot be reached is 503, never a 401."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from rq import Queue
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError

from backend import outages
from backend.api import limits
from backend.api.limits import limiter
from backend.app import create_app
from backend.db import Database, is_outage
from backend.jobs import alerts as alert_jobs
from backend.jobs.base import job_database
from tests import helpers as h
from tests.fixtures import phones
from tests.receivers import hanging_server, relay

UNREACHABLE = "postgresql://qonys:x@127.0.0.1:9/qonys"  # the discard port: nothing listens


@pytest.fixture
def no_database(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    gone = Database(UNREACHABLE, pool_size=1)
    monkeypatch.setitem(app.extensions, "qonys.db", gone)
    yield gone
    gone.dispose()


@pytest.mark.parametrize("path", ["/api/v1/persons", "/api/v1/alerts"])
def test_bearer_token_with_database_unreachable_is_503(
    client: Any, token: Any, no_database: Any, path: str
) -> None:
    headers = token("officer", region_kato="710000000")
    resp = client.get(path, headers={**headers, "X-Purpose": "outage"})
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) > 0


def test_phone_with_database_unreachable_is_503_not_401(
    client: Any, monitored: dict, no_database: Any
) -> None:
    resp = phones.send(
        client, phones.traccar_android_legacy(monitored["secret"], datetime.now(UTC))
    )
    assert resp.status_code == 503
    assert int(resp.headers["Retry-After"]) > 0


def test_batch_upload_and_owntracks_with_database_unreachable_are_503(
    client: Any, monitored: dict, no_database: Any
) -> None:
    now = datetime.now(UTC)
    batch = client.post(
        "/api/v1/traces",
        json={"points": [{"t": now.isoformat(), "lat": 51.1, "lon": 71.4}]},
        headers=monitored["headers"],
    )
    owntracks = phones.send(client, phones.owntracks_ios(monitored["secret"], now))
    assert (batch.status_code, owntracks.status_code) == (503, 503)
    assert batch.headers["Retry-After"] and owntracks.headers["Retry-After"]


@pytest.fixture
def no_redis(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Redis unreachable for the limiter and the queue (nothing listens on port 9)."""
    gone = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    monkeypatch.setattr(
        limiter,
        "_limiter",
        FixedWindowRateLimiter(RedisStorage("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)),
    )
    monkeypatch.setitem(app.extensions, "qonys.redis", gone)
    # This process's view of Redis starts healthy, whatever an earlier test left it at;
    # set before the leases are made, which report to it.
    monkeypatch.setattr(outages, "REDIS", outages.Outage("redis"))
    leases = limits.rate_leases(gone, app.extensions["qonys.settings"])
    monkeypatch.setitem(app.extensions, "qonys.rate_leases", leases)
    monkeypatch.setitem(app.extensions, "qonys.queue", Queue("qonys-test", connection=gone))
    monkeypatch.setattr(alert_jobs.PHONE_KICKS, "seconds", 0.0)
    return gone


def test_a_redis_outage_logs_one_line_not_a_traceback_per_request(
    client: Any, monitored: dict, db: Any, no_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    start = datetime.now(UTC) - timedelta(minutes=30)
    for i in range(20):
        request = phones.traccar_android_legacy(monitored["secret"], start + timedelta(seconds=i))
        assert phones.send(client, request).status_code == 200
    # Counted, not logged: once per quiet spell (the rate leases and the alert kick rest
    # after a failure rather than wait for Redis again).
    assert outages.REDIS.down and outages.REDIS.failures >= 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    assert "redis unavailable" in warnings[0].getMessage()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trace_points")).scalar() == 20
    outages.REDIS.ok()  # the next request that reaches Redis says it is back
    assert [r.getMessage() for r in caplog.records][-1].startswith("redis back after")


def test_one_database_outage_is_one_line_however_its_answers_alternate(
    app: Any,
    client: Any,
    monitored: dict,
    db: Any,
    no_database: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Any API answer under 500 declared the database back: the API's description, a
    phone's 401 for a missing token. During one outage the log flipped between down and
    back with every such answer (59 lines for 90 requests). Only an answer that used the
    database says it is back."""
    monkeypatch.setattr(outages, "DATABASE", outages.Outage("database", marks_thread=True))
    caplog.set_level(logging.INFO, logger="qonys.outage")
    now = datetime.now(UTC)
    for i in range(10):
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get(phones.PATH, query_string={"lat": "51", "lon": "71"}).status_code == 401
        request = phones.traccar_android_legacy(monitored["secret"], now + timedelta(seconds=i))
        assert phones.send(client, request).status_code == 503
    lines = [r.getMessage() for r in caplog.records if r.name == "qonys.outage"]
    assert len(lines) == 1 and lines[0].startswith("database unavailable")
    monkeypatch.setitem(app.extensions, "qonys.db", db)  # the database is back
    request = phones.traccar_android_legacy(monitored["secret"], now + timedelta(seconds=30))
    assert phones.send(client, request).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "qonys.outage"]
    assert len(lines) == 2 and lines[1].startswith("database back after")
    assert int(lines[1].split("; ")[1].split()[0]) >= 10  # the phones' 503s, counted


def test_writes_in_each_others_way_are_busy_not_an_outage(
    client: Any,
    monitored: dict,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lock held past a write's wait (here the last positions, locked by hand; a
    deadlock lost is the same) is work in each other's way: a device's batch is told 503
    ``busy`` with Retry-After, and the log says so once, not that the database is down;
    once the lock is gone, the next batch is stored and the log says it is clear."""
    monkeypatch.setattr(outages, "DATABASE", outages.Outage("database", marks_thread=True))
    monkeypatch.setattr(  # settling at once: the clear line is read in the same test
        outages, "CONTENTION", outages.Outage("database work", ("held up", "clear"))
    )
    caplog.set_level(logging.INFO, logger="qonys.outage")
    now = datetime.now(UTC)

    def batch(minutes: int) -> Any:
        point = {"t": (now - timedelta(minutes=minutes)).isoformat(), "lat": 51.1, "lon": 71.4}
        return client.post("/api/v1/traces", json={"points": [point]}, headers=monitored["headers"])

    with db.engine.connect() as holder, holder.begin():
        holder.execute(text("LOCK TABLE trace_last_positions IN ACCESS EXCLUSIVE MODE"))
        held = batch(2)  # the clean path, on the autocommit engine: a 5 s wait
    assert held.status_code == 503 and held.headers["Retry-After"]
    assert held.get_json()["code"] == "busy"
    assert not outages.DATABASE.down and outages.CONTENTION.down
    assert batch(1).status_code == 202
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("database work held up: OperationalError")
    assert lines[1].startswith("database work clear after")


def test_a_connection_gives_up_on_a_database_cut_off_the_network(db: Any) -> None:
    """A database cut off the network (packets dropped) held a pooled connection's
    statement, and with it an API thread, for as long as TCP retransmits (~15 minutes):
    libpq is told to give up on unacknowledged data and unanswered keepalives."""
    for engine in (db.engine, db.autocommit):
        with engine.connect() as conn:
            dsn = conn.connection.dbapi_connection.get_dsn_parameters()
        assert dsn["tcp_user_timeout"] == "15000" and dsn["keepalives"] == "1"
        assert (dsn["keepalives_idle"], dsn["keepalives_count"]) == ("30", "3")


def test_a_redis_that_hangs_costs_the_api_one_timeout_per_quiet_spell(
    migrated: Any, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phones rested after a Redis failure; the rest of the API did not: the person
    listing's daily cap, the count of failed sign-ins and flask-limiter's limits each
    asked the hanging Redis again, 5-7 s for an administrator's list (second attack
    round, N3). Counted here as the commands the hanging server received."""
    monkeypatch.setattr(outages, "REDIS", outages.Outage("redis"))
    with hanging_server() as frozen:
        app = create_app(replace(migrated, redis_url=frozen.url))
        client = app.test_client()
        try:
            for _ in range(4):
                listed = client.get("/api/v1/persons?limit=1", headers=admin)
                assert listed.status_code == 200, listed.get_json()
                assert client.get("/api/v1/persons", headers={}).status_code == 401
                assert client.post("/login", data={}).status_code < 500
            assert outages.REDIS.down and frozen.received == 1
        finally:
            app.extensions["qonys.db"].dispose()


def test_a_statement_past_its_bound_is_busy_not_an_outage(
    migrated: Any,
    db: Any,
    admin: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The API's statements had no bound: one waiting on a lock nobody released (or a
    query gone wrong) held its thread for good. The server now cancels it after
    ``QONYS_DB_STATEMENT_TIMEOUT_S``: a 503 ``busy`` with Retry-After, no outage; the
    jobs' connections stay unbounded."""
    monkeypatch.setattr(outages, "DATABASE", outages.Outage("database", marks_thread=True))
    monkeypatch.setattr(outages, "CONTENTION", outages.Outage("database work", ("held up", "c")))
    caplog.set_level(logging.INFO, logger="qonys.outage")
    bounded = create_app(replace(migrated, db_statement_timeout_s=1))
    try:
        ours = bounded.extensions["qonys.db"]
        for engine in (ours.engine, ours.autocommit):
            with engine.connect() as conn:
                assert conn.scalar(text("SHOW statement_timeout")) == "1s"
                assert conn.scalar(text("SHOW idle_in_transaction_session_timeout")) == "1min"
        # The worker's (kept for the process, as the jobs keep it): closing a day may
        # take minutes.
        with job_database().engine.connect() as conn:
            assert conn.scalar(text("SHOW statement_timeout")) == "0"
        with db.engine.connect() as holder, holder.begin():
            holder.execute(text("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE"))
            held = bounded.test_client().get("/api/v1/persons?limit=1", headers=admin)
        assert held.status_code == 503 and int(held.headers["Retry-After"]) > 0
        assert held.get_json()["code"] == "busy"
        assert outages.CONTENTION.down and not outages.DATABASE.down
        (line,) = [r.getMessage() for r in caplog.records]
        assert line.startswith("database work held up: OperationalError")
        assert "canceling statement due to statement timeout" in line
        served = bounded.test_client().get("/api/v1/persons?limit=1", headers=admin)
        assert served.status_code == 200
        assert not outages.CONTENTION.down
    finally:
        bounded.extensions["qonys.db"].dispose()


def test_a_database_that_never_answers_ends_the_connection_not_the_request(
    app: Any, client: Any, db: Any, monitored: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frozen database (the attack's hang drill: a proxy that takes the bytes and goes
    silent) cancels nothing and answers no keepalive wrongly: a statement waited for good,
    and with it the request. Past the server's bound and the watch's margin its
    connection is ended: an outage (503, Retry-After), and once the database answers
    again the next request is served on a fresh connection."""
    monkeypatch.setattr(outages, "DATABASE", outages.Outage("database", marks_thread=True))
    with relay(db._url) as proxy:
        frozen = Database(proxy.url, 2, statement_timeout_s=2,
                          watch_margin_s=1)  # fmt: skip
        try:
            for engine in (frozen.engine, frozen.autocommit):  # a pooled connection each
                with engine.connect() as conn:
                    assert conn.scalar(text("SELECT 1")) == 1
            proxy.freeze()
            outcome: list[BaseException | None] = []

            def ask() -> None:
                try:
                    with frozen.engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                    outcome.append(None)
                except BaseException as exc:
                    outcome.append(exc)

            asking = threading.Thread(target=ask, daemon=True)
            asking.start()
            asking.join(timeout=60)  # a bound on the hang, not a speed: unwatched, forever
            assert not asking.is_alive(), "the statement still waits on a silent database"
            (error,) = outcome
            assert isinstance(error, OperationalError) and is_outage(error)
            assert frozen.watch is not None and frozen.watch.ended == 1
            # Through the API: a phone's token lookup (autocommit, on_driver_cursor's
            # path) and its write meet the silent database too.
            monkeypatch.setitem(app.extensions, "qonys.db", frozen)
            answer = phones.send(
                client, phones.traccar_android_legacy(monitored["secret"], datetime.now(UTC))
            )
            assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0
            assert outages.DATABASE.down and frozen.watch.ended == 2
            proxy.thaw()
            again = phones.send(
                client, phones.traccar_android_legacy(monitored["secret"], datetime.now(UTC))
            )
            assert again.status_code == 200
            assert not outages.DATABASE.down
        finally:
            proxy.thaw()
            frozen.dispose()


def test_a_commit_the_database_never_answers_ends_its_connection_too(db: Any) -> None:
    """A commit is no cursor statement (SQLAlchemy sends it through the dialect, and the
    pool's rollback on return too): frozen after a transaction's statements, the commit
    waited for good. It is watched as a statement is; the connection it ended is never
    handed out again."""
    with relay(db._url) as proxy:
        frozen = Database(proxy.url, 1, statement_timeout_s=2,
                          watch_margin_s=1)  # fmt: skip
        outcome: list[BaseException | None] = []

        def write() -> None:
            try:
                with frozen.transaction() as session:
                    session.execute(text("SELECT 1"))
                    proxy.freeze()  # the statement answered; the commit will not be
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        try:
            writing = threading.Thread(target=write, daemon=True)
            writing.start()
            writing.join(timeout=60)  # a bound on the hang, not a speed
            assert not writing.is_alive(), "the commit still waits on a silent database"
            (error,) = outcome
            assert isinstance(error, OperationalError) and is_outage(error)
            assert frozen.watch is not None and frozen.watch.ended >= 1
            proxy.thaw()
            with frozen.engine.connect() as conn:
                assert conn.scalar(text("SELECT 1")) == 1
        finally:
            proxy.thaw()
            frozen.dispose()


# A client that takes a session lock through the relay, asks for a result it never reads,
# and is SIGKILLed: its kernel answers the unread bytes with a reset, not a FIN.
_DIES_HOLDING_A_LOCK = """
import select, sys, time
import psycopg2
from psycopg2 import extensions


def wait(conn):
    while (state := conn.poll()) != extensions.POLL_OK:
        fd = [conn.fileno()]
        select.select(fd if state == extensions.POLL_READ else [], fd if state == extensions.POLL_WRITE else [], [])


conn = psycopg2.connect(sys.argv[1], async_=1)
wait(conn)
cur = conn.cursor()
cur.execute("SELECT pg_advisory_lock(4242), pg_backend_pid()")
wait(conn)
print(cur.fetchone()[1], flush=True)
cur.execute("SELECT repeat('x', 1000000)")  # never read
time.sleep(600)
"""


def test_a_client_killed_holding_a_lock_frees_it_through_the_relay(db: Any) -> None:
    """The fault drill's worker dies with a connection whose result it had not read: the
    relay must pass the reset on to PostgreSQL, whose backend then ends and frees its
    locks. A relay that dropped the client's side alone kept the backend, and its locks,
    for good: the drill's next jobs and requests waited on them (CI, stop 41)."""
    with relay(db._url) as proxy:
        dsn = make_url(proxy.url).set(drivername="postgresql").render_as_string(False)
        client = subprocess.Popen(
            [sys.executable, "-c", _DIES_HOLDING_A_LOCK, dsn], stdout=subprocess.PIPE, text=True
        )
        try:
            assert client.stdout is not None
            backend = int(client.stdout.readline())
            time.sleep(1)  # the unread result reaches the client's socket
            client.kill()
            client.wait(timeout=10)
        finally:
            if client.poll() is None:
                client.kill()
            client.stdout.close()

        def freed() -> bool:
            with db.engine.begin() as conn:
                gone = not conn.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": backend}
                )
                return gone and bool(conn.scalar(text("SELECT pg_try_advisory_xact_lock(4242)")))

        h.wait_for(freed, timeout=15)
