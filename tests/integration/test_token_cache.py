"""The token cache's revocation listener: quiet on Redis, and still hearing revocations."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import redis
from sqlalchemy import event

from backend.services.access.tokens import REVOKED_CHANNEL, Principal, TokenCache
from backend.settings import Settings
from tests import helpers as h
from tests.fixtures import phones


def _pings(conn: redis.Redis[bytes]) -> int:
    return int(
        cast(dict[str, Any], conn.info("commandstats")).get("cmdstat_ping", {}).get("calls", 0)
    )


def test_the_revocation_listener_is_quiet_and_still_hears_a_revocation(
    settings: Settings,
) -> None:
    """It pinged Redis after every empty read, and the pong made the next read return at
    once: about 2,000 pings a second from every process. Now redis-py's health check
    pings a quiet connection once a second."""
    cache = TokenCache()
    cache.start(settings.redis_url, ttl_s=30)
    h.wait_for(lambda: cache.live, timeout=10)
    conn: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    before = _pings(conn)
    time.sleep(3)
    # Every listening process of this machine's test runs counts here (the app's own, the
    # Citus pass's servers beside this one), each about once a second.
    assert _pings(conn) - before < 100

    who = cast(Principal, type("Who", (), {"expires_at": None})())
    cache.put("digest-of-a-token", who)
    assert cache.get("digest-of-a-token") is who
    conn.publish(REVOKED_CHANNEL, "digest-of-a-token")
    h.wait_for(lambda: cache.get("digest-of-a-token") is None, timeout=10)


_MADE_UP = "qny_" + "x" * 40


@pytest.mark.parametrize(
    "request_",
    [
        phones.osmand_template(_MADE_UP, datetime.now(UTC)),  # the phone lane, then Flask
        (  # the check lane, then Flask
            "POST",
            "/api/v1/checks",
            {"Authorization": f"Bearer {_MADE_UP}", "Content-Type": "application/json"},
            b'{"iin": "900101300123", "location": {"lat": 51.16, "lon": 71.47}}',
        ),
        (  # the batch lane, then Flask
            "POST",
            "/api/v1/traces",
            {"Authorization": f"Bearer {_MADE_UP}", "Content-Type": "application/json"},
            b'{"points": [{"t": "2026-12-01T10:00:00Z", "lat": 51.16, "lon": 71.47}]}',
        ),
        ("GET", "/api/v1/persons", {"Authorization": f"Bearer {_MADE_UP}"}, b""),  # Flask
    ],
    ids=["phone", "check", "batch", "flask"],
)
def test_a_made_up_token_is_looked_up_once(app: Any, db: Any, request_: Any) -> None:
    """A lane that finds a token unknown hands the request to Flask, which answers 401:
    the database is asked once per request, not once by each (a flood of made-up tokens
    cost two lookups a request)."""
    lookups: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM api_tokens" in statement and "token_hash" in statement:
            lookups.append(statement)

    engine = db.autocommit
    event.listen(engine, "before_cursor_execute", seen)
    try:
        resp = phones.send(app.test_client(), request_)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert len(lookups) == 1
