"""Unauthenticated failures, counted per client address and minute in Redis.

A script that tries thousands of made-up tokens would otherwise write thousands of audit
rows. The first failure of an address in a minute is audited as it happens (endpoint,
person asked for, stated purpose); :func:`flush` then writes one row per address and
minute with the count (``auth_failed.minute``), from the periodic job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from backend import clock
from backend.services.access import audit
from backend.services.access.tokens import Principal

PREFIX = "qonys:authfail:"
MINUTES = PREFIX + "minutes"
KEEP_S = 2 * 86400
ANONYMOUS = Principal(token_id=0, role="anonymous", name="anonymous")


def count(redis_conn: Any, address: str, now: float | None = None) -> int:
    """Count one failure of ``address`` in the current minute; returns the count so far."""
    minute = int((now if now is not None else clock.now().timestamp()) // 60) * 60
    key = f"{PREFIX}{minute}"
    pipe = redis_conn.pipeline()
    pipe.hincrby(key, address, 1)
    pipe.expire(key, KEEP_S)
    pipe.zadd(MINUTES, {str(minute): minute})
    seen, _expire, _added = pipe.execute()
    return int(seen)


def flush(session: Session, redis_conn: Any, now: float | None = None) -> list[bytes]:
    """One audit row per address and finished minute, with its count. Returns the minutes
    written, for :func:`forget` once the rows are committed."""
    current = int((now if now is not None else clock.now().timestamp()) // 60) * 60
    done = []
    for raw in redis_conn.zrangebyscore(MINUTES, "-inf", current - 1):
        minute = int(raw)
        at = datetime.fromtimestamp(minute, UTC).strftime("%Y-%m-%d %H:%M UTC")
        for address, n in sorted(redis_conn.hgetall(f"{PREFIX}{minute}").items()):
            who = address.decode("ascii", "replace") if isinstance(address, bytes) else address
            audit.record(
                session,
                ANONYMOUS,
                "auth_failed.minute",
                [None],
                f"{who}: {int(n)} unauthenticated requests refused in the minute from {at}",
            )
        done.append(raw)
    return done


def forget(redis_conn: Any, minutes: list[bytes]) -> None:
    """Drop minutes whose rows are in the audit log."""
    for raw in minutes:
        redis_conn.delete(f"{PREFIX}{int(raw)}")
        redis_conn.zrem(MINUTES, raw)
