"""One log line when a dependency goes down, one when it is back; a count between."""

import logging
import time

import pytest

from backend import outages
from backend.outages import Outage


def test_an_outage_logs_its_start_and_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qonys.outage")
    redis = Outage("redis")
    redis.ok()
    for _ in range(500):
        redis.failed(ConnectionError("Error 111 connecting to 127.0.0.1:6379.\\nmore"))
    assert redis.down and redis.failures == 500
    for _ in range(3):
        redis.ok()
    assert not redis.down and redis.failures == 0 and redis.total == 500
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all(r.exc_info is None for r in caplog.records)
    assert (
        lines[0]
        == "redis unavailable: ConnectionError: Error 111 connecting to 127.0.0.1:6379.\\nmore"
    )
    assert lines[1].startswith("redis back after") and "500 calls failed" in lines[1]


def test_a_call_begun_before_the_outage_says_nothing_of_its_end() -> None:
    """A request whose database work began before the first failure, answered after it,
    declared the database back at once: an extra pair of lines at each outage's start."""
    database = Outage("database")
    began = time.monotonic()
    database.failed(ConnectionError("refused"))
    database.ok(since=began)
    assert database.down
    database.ok(since=time.monotonic())
    assert not database.down


def test_held_up_work_ends_its_spell_only_after_it_settled(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table lock held 20 s under phone traffic (the frozen-database drill's second
    part) logged five held-up/clear pairs: answers that did not touch the locked table
    ended the spell between the held-up ones. It ends once none was held up for the
    settle time."""
    caplog.set_level(logging.INFO, logger="qonys.outage")
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    held = Outage("database work", ("held up", "clear"), settle_s=30)
    for _ in range(5):  # a held-up write, then other answers that succeed, every 4 s
        held.failed(TimeoutError("canceling statement due to statement timeout"))
        now[0] += 2
        held.ok(since=now[0])
        now[0] += 2
    assert held.down and held.failures == 5
    now[0] += 30
    held.ok(since=now[0])
    assert not held.down
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("database work held up: TimeoutError")
    assert lines[1].startswith("database work clear after 16 s; 5 calls failed")


def test_a_spell_that_settled_unseen_ends_before_the_next_begins(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held-up work at night, then none and no other call for hours, then a lock in the
    morning: two spells, each named by its own first error, not one of ten hours."""
    caplog.set_level(logging.INFO, logger="qonys.outage")
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    held = Outage("database work", ("held up", "clear"), settle_s=30)
    held.failed(TimeoutError("deadlock detected"))
    now[0] += 36_000
    held.failed(TimeoutError("canceling statement due to lock timeout"))
    assert held.down and held.failures == 1
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "database work held up: TimeoutError: deadlock detected",
        "database work clear after 0 s; 1 calls failed meanwhile",
        "database work held up: TimeoutError: canceling statement due to lock timeout",
    ]


def test_the_apis_held_up_spell_settles() -> None:
    assert outages.CONTENTION.settle_s == outages.CONTENTION_SETTLE_S == 30
    assert outages.DATABASE.settle_s == outages.REDIS.settle_s == 0
