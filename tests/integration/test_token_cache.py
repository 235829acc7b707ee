"""The token cache's revocation listener: quiet on Redis, and still hearing revocations."""

from __future__ import annotations

import time
from typing import Any, cast

import redis

from backend.services.access.tokens import REVOKED_CHANNEL, Principal, TokenCache
from backend.settings import Settings
from tests import helpers as h


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
