"""Request rate limits, counted in the Redis the queue already uses.

Our API answers 429 problem+json with ``Retry-After`` when a token goes over its limit.
Phone endpoints never do: a phone over its limit is answered 2xx (its app would
otherwise retry the same point for ever) and the overflow is recorded as a refusal.

The limits every request meets (the API's per token, the phones' per device, the batch
upload's per token) are leased (:mod:`backend.services.access.rate_leases`): no Redis
round trip per request, and never more than the limit per window. flask-limiter keeps
the rare ones: sign-in, offline verification.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

import redis
from flask import Flask, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse, parse_many

from backend import outages
from backend.api.context import bearer_principal, bearer_secret, session_principal
from backend.errors import TooMany
from backend.services.access import auth_failures
from backend.services.access.rate_leases import RateLeases
from backend.services.access.tokens import Principal
from backend.services.tracking import phone_apps
from backend.settings import Settings

log = logging.getLogger("qonys.limits")


def limit_key(who: Principal) -> str:
    """A principal's key in the leased limits (here and in the lanes): its account for a
    browser session, else its token."""
    return f"user:{who.user_id}" if who.user_id is not None else f"token:{who.token_id}"


def _client_key() -> str:
    """The verified principal: its token id, or the account of a browser session; the
    client's address when neither verifies. Never the header as written: ``bearer t``,
    ``BEARER t`` and ``Bearer  t`` are one token, and made-up tokens share one address."""
    who = bearer_principal() if bearer_secret() else session_principal()
    if who is not None:
        return limit_key(who)
    return "ip:" + (request.remote_addr or "unknown")


def api_limit() -> str:
    return str(current_app.extensions["qonys.settings"].api_rate_limit)


# The phones' endpoints never answer 429 (they count devices themselves, below): the
# registry of phone apps says which paths are theirs. Pages and the health check are
# not the API.
_NOT_LIMITED = phone_apps.unlimited_paths()


def _exempt() -> bool:
    # The batch trace API counts against its own limit only (within_batch_limit).
    return (
        not request.path.startswith("/api/")
        or request.path.startswith(_NOT_LIMITED)
        or request.path == "/api/v1/traces"
    )


# The decorated limits (sign-in, offline verification) and the rare counts below;
# the API's own per-token limit is leased (check_api_limit).
limiter = Limiter(key_func=_client_key, strategy="fixed-window", swallow_errors=True)


@limiter.request_filter
def _store_resting() -> bool:
    """flask-limiter's limits (sign-in, the offline list) pass for a moment after Redis
    failed, as on any failure (``swallow_errors``), without asking it again: a Redis that
    hangs cost each such request its whole timeout."""
    return outages.REDIS.resting()


# Set on a request the check lane counted against the API limit, then passed to Flask:
# 0 within the limit, else the seconds of its Retry-After.
COUNTED = "qonys.api_limit_counted"

TOO_MANY = "too many requests: retry after the number of seconds in Retry-After"


@lru_cache(maxsize=64)
def _items(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


def _wait(limits: str, *key: str) -> int | None:
    """:func:`wait_on` the app's leases."""
    return wait_on(leases(), limits, *key)


def wait_on(leased: RateLeases, limits: str, *key: str) -> int | None:
    """Count one hit of ``key`` against every window of a leased limit ("10/second;
    100/minute": each one counts, as flask-limiter counted them); None within them all,
    else the seconds until the window it is over ends (Retry-After)."""
    for item in _items(limits):
        if not leased.hit(item, *key):
            return leased.reset_in(item)
    return None


def rate_leases(redis_conn: redis.Redis[bytes], settings: Settings) -> RateLeases:
    """The process's leased limits on ``redis_conn`` (keys beside flask-limiter's)."""
    return RateLeases(
        redis_conn,
        f"qonys-{settings.queue_name}",
        on_failure=outages.REDIS.failed,  # one log line per outage, not one per request
        on_success=outages.REDIS.ok,
    )


def leases() -> RateLeases:
    found: RateLeases = current_app.extensions["qonys.rate_leases"]
    return found


def check_api_limit() -> None:
    """Every API route: a limit per token (per address without one) and route, as
    flask-limiter's default limit counted it; over it, 429 with Retry-After."""
    if request.endpoint is None or _exempt():
        return  # no route (404, 405): nothing was counted before either
    counted = request.environ.get(COUNTED)
    if counted is not None:  # the check lane counted it (backend/api/check_lane.py)
        if counted:
            raise TooMany(TOO_MANY, counted)
        return
    wait = _wait(api_limit(), "api", _client_key(), request.endpoint)
    if wait is not None:
        raise TooMany(TOO_MANY, wait)


def install(app: Flask) -> None:
    """Lease the API's and the devices' limits on the app's Redis, in place of
    flask-limiter's check before every request."""
    settings = app.extensions["qonys.settings"]
    app.extensions["qonys.rate_leases"] = rate_leases(app.extensions["qonys.redis"], settings)
    app.before_request(check_api_limit)
    # flask-limiter now counts only limits decorated on a view (sign-in, offline
    # verification), each checked by its decorator. Its app-wide check before every
    # request, there for default and application limits, would find none to count and
    # cost a quarter of a millisecond on every request (a phone's, a check's): removed.
    app.before_request_funcs[None].remove(limiter._check_request_limit)


def batch_limit() -> str:
    return str(current_app.extensions["qonys.settings"].batch_rate_limit)


def within_batch_limit(view: Callable[..., Any]) -> Callable[..., Any]:
    """The batch upload's own limit per token (per address without one), leased as the
    API's is (no Redis round trip per batch); over it, 429 with Retry-After. Place it
    where flask-limiter's decorator stood: before authentication, so that a flood of
    made-up tokens is refused by address."""

    @wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        wait = _wait(batch_limit(), "batch", _client_key(), request.endpoint or "")
        if wait is not None:
            raise TooMany(TOO_MANY, wait)
        return view(*args, **kwargs)

    return limited


def signin_limit() -> str:
    return str(current_app.extensions["qonys.settings"].signin_rate_limit)


def client_address() -> str:
    """Sign-in attempts count per address: the account's own lock-out counts per user."""
    return "signin:" + (request.remote_addr or "unknown")


def listing_over_cap(actor: str, purpose: str | None, rows: int) -> int | None:
    """Count ``rows`` persons read by ``actor`` under ``purpose`` against the daily cap;
    over it, the seconds until the cap resets (a store outage lets the read through, as
    for devices), else None."""
    settings = current_app.extensions["qonys.settings"]
    item, keys = parse(settings.person_listing_cap), ("persons", actor, purpose or "-")
    if outages.REDIS.resting():  # it just failed: not asked again for a moment
        return None
    try:
        if limiter.limiter.hit(item, *keys, cost=max(rows, 1)):
            return None
        reset = limiter.limiter.get_window_stats(item, *keys).reset_time
    except Exception as exc:
        outages.REDIS.failed(exc)
        return None
    outages.REDIS.ok()
    return max(int(reset - time.time()), 1)


def unauthenticated_failure() -> tuple[bool, int | None]:
    """Count a request refused for want of a valid token or session against its address.

    Returns whether it is the first of this address in the minute (the one audited row
    by row), and the seconds to wait when the address is over ``auth_failure_limit``.
    """
    settings = current_app.extensions["qonys.settings"]
    address = request.remote_addr or "unknown"
    if outages.REDIS.resting():  # it just failed: not asked again for a moment
        return True, None
    try:
        seen = auth_failures.count(current_app.extensions["qonys.redis"], address)
        item = parse(settings.auth_failure_limit)
        if limiter.limiter.hit(item, "authfail", address):
            return seen == 1, None
        reset = limiter.limiter.get_window_stats(item, "authfail", address).reset_time
    except Exception as exc:  # no Redis: audit every failure, as before, and let it through
        outages.REDIS.failed(exc)  # counted with the outage, not a traceback per request
        return True, None
    return seen == 1, max(int(reset - time.time()), 1)
