"""Rate limits without a Redis round trip per request: each process leases quota.

A fixed-window limit ("120/minute") was one Redis round trip per request: a third of a
phone request's time and a quarter of an officer check's (issue 27). Here a process
reserves a block of a key's window budget from Redis in one atomic script (grant what is
asked, at most what is left; INCRBY; set the expiry) and spends the block locally, with
no round trip until the block is used up. Once Redis answers that nothing is left, the
process refuses that key locally until the window ends, again without a round trip.

**The guarantee.** Redis counts tokens *granted*, never more than the limit, and a
process accepts a hit only by spending a granted token: however many processes and
threads, a key is accepted at most ``limit`` times per window, the same bound as the
fixed window counted hit by hit.

**The lease rule.** A grant is ``min(block, max(1, left // 2))``, where ``left`` is what
remains of the window's budget in Redis and ``block = max(1, min(limit // share,
most))`` (``share`` 16 and ``most`` 100 by default: 7 for 120/minute, 75 for
1200/minute). A process asks again only when its block is spent, so it holds at most
one grant's remainder at a time, and grants halve as the window fills.

**The bound on early refusal.** Tokens granted to a process that then sees no more hits
of that key in the window (its keep-alive connection went to another worker) are not
spent by anybody. So a key may be refused before ``limit`` hits, but only by what the
*other* processes hold unspent: with ``P`` processes, a refused key has had at least
``limit - (P - 1) * block`` hits accepted (120/minute on two workers: at least 113).
While the other processes keep seeing the key, what they hold is their last grant, made
when little was left: a few tokens. ``P`` counts every process that took a grant in the
window, including a worker killed or restarted since (what it held is lost with it).

Windows align as ``time // period`` (a key's Redis counter is per window index). State is
per process and thread-safe (gunicorn's threads): one lock per key, held across that
key's round trip so that threads of one process waiting on one key share one lease
instead of each asking Redis; windows that have passed are pruned. Redis unreachable:
the hit is let through (as the limiter always did), ``on_failure`` is told, and threads
that waited for the failed round trip pass without trying again.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from limits import RateLimitItem

# KEYS[1] the window's counter; ARGV: limit, block, expiry (s). Returns the grant (0: none left).
GRANT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = tonumber(ARGV[1]) - used
if left <= 0 then
  return 0
end
local grant = math.min(tonumber(ARGV[2]), math.max(1, math.floor(left / 2)))
if redis.call('INCRBY', KEYS[1], grant) == grant then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return grant
"""

SHARE = 16  # a block is at most this fraction of the limit ...
MOST = 100  # ... and at most this many hits
PRUNE_EVERY_S = 30.0
# After Redis failed, hits go through without asking it for this long: an unreachable
# host would otherwise cost every hit its connect timeout.
QUIET_AFTER_FAILURE_S = 2.0


class _Lease:
    """What this process holds of one key's budget in one window."""

    __slots__ = ("exhausted", "failures", "lock", "tokens", "window")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.window = -1
        self.tokens = 0
        self.exhausted = False  # Redis said nothing is left in this window
        self.failures = 0  # round trips of this key that met an outage


def block_size(limit: int, share: int = SHARE, most: int = MOST) -> int:
    """The grant a process asks for: a share of the limit, at least 1."""
    return max(1, min(limit // share, most))


class RateLeases:
    """Fixed-window limits counted in Redis by leases (see the module's docstring).

    ``on_failure(exc)`` is called when Redis cannot be reached (the hit passes) and
    ``on_success()`` after each round trip that reached it; ``clock`` gives the time in
    seconds (the windows' alignment), for tests to move."""

    def __init__(
        self,
        redis_conn: redis.Redis[bytes],
        prefix: str = "qonys",
        *,
        share: int = SHARE,
        most: int = MOST,
        clock: Callable[[], float] = time.time,
        on_failure: Callable[[BaseException], None] | None = None,
        on_success: Callable[[], None] | None = None,
    ) -> None:
        self.redis = redis_conn
        self.prefix = prefix
        self.share, self.most = share, most
        self.clock = clock
        self.on_failure, self.on_success = on_failure, on_success
        self._grant = redis_conn.register_script(GRANT)
        self._leases: dict[tuple[Any, ...], _Lease] = {}
        self._prune_lock = threading.Lock()
        self._next_prune = 0.0
        self._count_lock = threading.Lock()
        self.round_trips = 0  # scripts sent to Redis, reached or not
        self._quiet_until = 0.0  # Redis failed: let hits through until then

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one hit of the key ``identifiers`` against ``item``; False when over."""
        now = self.clock()
        period = item.get_expiry()
        window = int(now // period)
        if now >= self._next_prune:
            self._prune(now)
        key = (item.amount, period, *identifiers)
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases.setdefault(key, _Lease())
        seen_failures = lease.failures
        with lease.lock:
            if lease.window < window:
                lease.window, lease.tokens, lease.exhausted = window, 0, False
            # (A thread that read the clock just before the window turned counts in the
            # new one, rather than throwing away what the new window was granted.)
            if lease.tokens > 0:
                lease.tokens -= 1
                return True
            if lease.exhausted:
                return False
            if lease.failures != seen_failures or now < self._quiet_until:
                return True  # Redis failed while this thread waited, or just before
            try:
                granted = self._ask(item.amount, period, lease.window, identifiers)
            except (redis.RedisError, OSError) as exc:
                lease.failures += 1
                # From when the call failed: after a timeout of its own length, a window
                # counted from before the call would already be over.
                self._quiet_until = self.clock() + QUIET_AFTER_FAILURE_S
                if self.on_failure is not None:
                    self.on_failure(exc)
                return True
            if self.on_success is not None:
                self.on_success()
            if granted <= 0:
                lease.exhausted = True
                return False
            lease.tokens = granted - 1
            return True

    def clear(self) -> None:
        """Forget every lease this process holds: after the counters in Redis were emptied
        and the keys they counted may name someone else (a test's database restarting
        its ids)."""
        self._leases.clear()
        self._quiet_until = 0.0

    def reset_in(self, item: RateLimitItem) -> int:
        """Whole seconds until ``item``'s current window ends (at least 1): Retry-After."""
        now, period = self.clock(), item.get_expiry()
        return max(math.ceil((now // period + 1) * period - now), 1)

    def held(self, item: RateLimitItem, *identifiers: str) -> int:
        """Tokens of the key this process holds unspent in the current window."""
        lease = self._leases.get((item.amount, item.get_expiry(), *identifiers))
        window = int(self.clock() // item.get_expiry())
        return lease.tokens if lease is not None and lease.window == window else 0

    def _ask(self, limit: int, period: int, window: int, identifiers: tuple[str, ...]) -> int:
        with self._count_lock:
            self.round_trips += 1
        name = f"{self.prefix}:lease:{limit}/{period}:{'/'.join(identifiers)}:{window}"
        # The counter outlives its window a little: a process whose clock is behind
        # (up to a minute) still finds the count rather than a fresh budget.
        expiry = period + min(period, 60)
        block = block_size(limit, self.share, self.most)
        return int(self._grant(keys=[name], args=[limit, block, expiry]))

    def _prune(self, now: float) -> None:
        """Forget the leases of windows that have passed (one thread at a time)."""
        if not self._prune_lock.acquire(blocking=False):
            return
        try:
            if now < self._next_prune:
                return
            self._next_prune = now + PRUNE_EVERY_S
            for key, lease in list(self._leases.items()):
                period = key[1]
                if lease.window < int(now // period) and lease.lock.acquire(blocking=False):
                    try:
                        # A thread that fetched this lease just before may still spend
                        # it: what it is granted then is held by nobody (refused early,
                        # never accepted twice).
                        if lease.window < int(now // period):
                            self._leases.pop(key, None)
                    finally:
                        lease.lock.release()
        finally:
            self._prune_lock.release()
