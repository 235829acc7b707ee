"""One log line when a dependency goes down, one when it is back; a count between."""

import logging
import time

import pytest

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
