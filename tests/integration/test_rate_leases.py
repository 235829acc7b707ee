"""Leased rate limits (issue 27): never more than the limit per window, across processes
and threads, with few Redis round trips; refused early by at most what other processes
hold; a new window a new budget; Redis down lets hits through. Real Redis throughout;
two instances of the limiter are two processes."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from limits import parse

from backend import outages
from backend.api.phone_lane import kick_alerts
from backend.app import create_app
from backend.services.access import rate_leases
from backend.services.access.rate_leases import RateLeases, block_size
from backend.settings import Settings
from tests.fixtures import phones
from tests.receivers import hanging_server

T0 = 1_800_000_000.25  # a quarter second into a window of any period up to an hour


@pytest.fixture
def conn(settings: Settings) -> Any:
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


def _key() -> str:
    return uuid.uuid4().hex  # each test its own counter, however often it runs


def _hammer(leases: list[RateLeases], key: str, limit: str, per_thread: int, threads: int) -> int:
    """``threads`` threads per instance, all starting together; the hits accepted."""
    item, accepted, lock = parse(limit), [0], threading.Lock()
    start = threading.Barrier(len(leases) * threads)

    def run(leased: RateLeases) -> None:
        start.wait()
        mine = sum(leased.hit(item, "test", key) for _ in range(per_thread))
        with lock:
            accepted[0] += mine

    workers = [threading.Thread(target=run, args=(x,)) for x in leases for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return accepted[0]


def test_two_processes_many_threads_accept_exactly_the_limit_with_few_round_trips(
    conn: Any,
) -> None:
    a, b = RateLeases(conn, clock=lambda: T0), RateLeases(conn, clock=lambda: T0)
    key, per_thread = _key(), 57  # 16 threads: 912 hits, three times the limit
    accepted = _hammer([a, b], key, "300/minute", per_thread=per_thread, threads=8)
    assert accepted == 300
    assert int(conn.get(f"qonys:lease:300/60:test/{key}:{int(T0 // 60)}")) == 300  # all granted
    assert a.round_trips + b.round_trips < 16 * per_thread // 10
    assert a.round_trips > 0 and b.round_trips > 0  # both processes leased
    assert a.held(parse("300/minute"), "test", key) == b.held(parse("300/minute"), "test", key) == 0


def test_leases_shrink_as_the_window_fills_so_another_process_is_refused_late(
    conn: Any,
) -> None:
    # A lease may be the whole limit here (share 1): still at most half of what is left.
    item, key = parse("10/minute"), _key()
    a, b = (RateLeases(conn, share=1, clock=lambda: T0) for _ in range(2))
    assert a.hit(item, "test", key)
    assert a.held(item, "test", key) == 4  # granted 5 of 10, one spent
    assert sum(b.hit(item, "test", key) for _ in range(20)) == 5  # grants 2, 1, 1, 1
    assert sum(a.hit(item, "test", key) for _ in range(20)) == 4
    # With the default block, the documented bound: limit - (processes - 1) * block.
    item, key = parse("120/minute"), _key()
    a, b = RateLeases(conn, clock=lambda: T0), RateLeases(conn, clock=lambda: T0)
    assert a.hit(item, "test", key) and a.held(item, "test", key) == block_size(120) - 1 == 6
    assert sum(b.hit(item, "test", key) for _ in range(200)) == 120 - block_size(120) == 113
    assert sum(a.hit(item, "test", key) for _ in range(200)) == 6


def test_a_new_window_gives_a_fresh_budget_and_old_windows_are_forgotten(conn: Any) -> None:
    now = [T0]
    leased, item, key = RateLeases(conn, clock=lambda: now[0]), parse("5/second"), _key()
    assert [leased.hit(item, "test", key) for _ in range(7)] == [True] * 5 + [False] * 2
    assert leased.reset_in(item) == 1
    trips = leased.round_trips
    assert not leased.hit(item, "test", key) and leased.round_trips == trips  # refused locally
    now[0] += 1
    assert [leased.hit(item, "test", key) for _ in range(7)] == [True] * 5 + [False] * 2
    assert leased.reset_in(parse("120/minute")) == 59
    now[0] += 60
    leased.hit(item, "test", _key())  # a minute on: the past windows' leases are pruned
    assert len(leased._leases) == 1


def test_redis_down_lets_every_hit_through_and_says_so(settings: Settings) -> None:
    gone = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    failures: list[BaseException] = []
    leased = RateLeases(gone, on_failure=failures.append)
    assert _hammer([leased], _key(), "3/minute", per_thread=5, threads=4) == 20
    assert failures and all(isinstance(e, redis.ConnectionError) for e in failures)
    assert all(RateLeases(gone).hit(parse("1/minute"), "test", "k") for _ in range(3))


def test_after_a_redis_failure_hits_go_through_without_asking_for_a_while() -> None:
    """An unreachable Redis costs one connect timeout per process and quiet spell, not one
    per hit: keys that hold no lease pass without a round trip until it ends."""
    gone = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    now = [1000.0]
    leased = RateLeases(gone, clock=lambda: now[0])
    item = parse("3/minute")
    assert all(leased.hit(item, "test", f"device{k}") for k in range(50))
    assert leased.round_trips == 1
    now[0] += 2.5  # the quiet spell is over: Redis is asked again
    assert leased.hit(item, "test", "device0") and leased.round_trips == 2


def test_the_api_and_phones_limits_take_no_round_trip_per_request(
    migrated: Settings, monitored: dict, token: Any
) -> None:
    app = create_app(replace(migrated, api_rate_limit="1200/minute"))
    client, leased = app.test_client(), app.extensions["qonys.rate_leases"]
    headers = {**token("analyst"), "X-Purpose": "case R-1"}
    assert all(client.get("/api/v1/alerts", headers=headers).status_code == 200 for _ in range(20))
    assert leased.round_trips <= 2  # 75 hits leased at once
    start, before = datetime.now(UTC) - timedelta(minutes=5), leased.round_trips
    for i in range(14):
        request = phones.osmand_template(monitored["secret"], start + timedelta(seconds=i))
        assert phones.send(client, request).status_code == 200
    assert leased.round_trips - before <= 4  # 120/minute: blocks of 7
    app.extensions["qonys.db"].dispose()


def test_a_cleared_process_forgets_a_spent_budget_once_redis_forgot_it(conn: Any) -> None:
    """Tests restart the database's ids and empty Redis between them: a device of the
    same id is another device, and a lease spent by the one must not refuse the other."""
    leases, item, key = RateLeases(conn, clock=lambda: T0), parse("3/minute"), _key()
    assert [leases.hit(item, "device", key) for _ in range(4)] == [True, True, True, False]
    conn.delete(*conn.keys(f"{leases.prefix}:lease:*{key}*"))
    assert not leases.hit(item, "device", key)  # still held spent in this process
    leases.clear()
    assert leases.hit(item, "device", key)


def test_a_redis_that_hangs_is_asked_once_per_quiet_spell_not_once_per_hit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Redis that takes the bytes and never answers costs a hit the whole socket
    timeout. The quiet spell started from before that call, and was over when it failed:
    every phone request then waited the timeout again (4 s each, throughput down 40
    times). It starts once the call has failed."""
    # The call waits longer than the spell lasts: counted from before it, the spell
    # would be over when it failed. (The 19 hits after it take microseconds.)
    monkeypatch.setattr(rate_leases, "QUIET_AFTER_FAILURE_S", 1.0)
    with hanging_server() as frozen:
        client = redis.Redis.from_url(frozen.url, socket_timeout=1.5)
        leased = RateLeases(client)
        item = parse("3/minute")
        assert leased.hit(item, "test", "device0")  # failed open, after the timeout
        assert all(leased.hit(item, "test", f"device{k}") for k in range(1, 20))
        assert leased.round_trips == 1 and frozen.received == 1
        client.close()


def test_an_alert_kick_rests_after_redis_failed(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The phone whose turn it is to kick the alert job (once a second per process)
    waited Redis's whole timeout each time; after a failure the kick rests a moment
    (the sweep evaluates what a missed kick leaves)."""
    monkeypatch.setattr(outages, "REDIS", outages.Outage("redis"))  # this test's own
    with hanging_server() as frozen:
        client = redis.Redis.from_url(frozen.url, socket_timeout=0.3)
        extensions = {**app.extensions, "qonys.redis": client}
        try:
            kick_alerts(extensions)
            assert outages.REDIS.down and frozen.received == 1
            for _ in range(5):
                kick_alerts(extensions)
            assert frozen.received == 1
        finally:
            client.close()
