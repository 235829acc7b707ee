"""Request rate limits (flask-limiter on the Redis the queue already uses).

Our batch API answers 429 problem+json with ``Retry-After`` when a token goes over its
limit. Phone endpoints never do: a phone over its limit is answered 2xx (its app would
otherwise retry the same point for ever) and the overflow is recorded as a refusal.
"""

from __future__ import annotations

import logging
import time

from flask import current_app, request
from flask_limiter import Limiter
from limits import parse

from backend import outages
from backend.api.context import bearer_principal, bearer_secret, session_principal
from backend.services.access import auth_failures
from backend.services.tracking import phone_apps

log = logging.getLogger("qonys.limits")


def _client_key() -> str:
    """The verified principal: its token id, or the account of a browser session; the
    client's address when neither verifies. Never the header as written: ``bearer t``,
    ``BEARER t`` and ``Bearer  t`` are one token, and made-up tokens share one address."""
    who = bearer_principal() if bearer_secret() else session_principal()
    if who is not None:
        return f"user:{who.user_id}" if who.user_id is not None else f"token:{who.token_id}"
    return "ip:" + (request.remote_addr or "unknown")


def api_limit() -> str:
    return str(current_app.extensions["qonys.settings"].api_rate_limit)


# The phones' endpoints never answer 429 (they count devices themselves, below): the
# registry of phone apps says which paths are theirs. Pages and the health check are
# not the API.
_NOT_LIMITED = phone_apps.unlimited_paths()


def _exempt() -> bool:
    # The batch trace API counts against its own limit (batch_limit) only: one Redis
    # round trip per batch, not two.
    return (
        not request.path.startswith("/api/")
        or request.path.startswith(_NOT_LIMITED)
        or request.path == "/api/v1/traces"
    )


# Every API route: a limit per token (per address without one), 429 with Retry-After.
limiter = Limiter(
    key_func=_client_key,
    strategy="fixed-window",
    swallow_errors=True,
    default_limits=[api_limit],
    default_limits_exempt_when=_exempt,
)


def batch_limit() -> str:
    return str(current_app.extensions["qonys.settings"].batch_rate_limit)


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
    try:
        if limiter.limiter.hit(item, *keys, cost=max(rows, 1)):
            return None
        reset = limiter.limiter.get_window_stats(item, *keys).reset_time
    except Exception as exc:
        outages.REDIS.failed(exc)
        return None
    outages.REDIS.ok()
    return max(int(reset - time.time()), 1)


def device_over_limit(token_id: int) -> bool:
    """Count one request of a device; True when it is over its limit (never raises)."""
    settings = current_app.extensions["qonys.settings"]
    try:
        over = not limiter.limiter.hit(parse(settings.device_rate_limit), "device", str(token_id))
    except Exception as exc:  # no Redis: let the point through rather than lose it
        outages.REDIS.failed(exc)  # one log line per outage, not one per request
        return False
    outages.REDIS.ok()
    return over


def unauthenticated_failure() -> tuple[bool, int | None]:
    """Count a request refused for want of a valid token or session against its address.

    Returns whether it is the first of this address in the minute (the one audited row
    by row), and the seconds to wait when the address is over ``auth_failure_limit``.
    """
    settings = current_app.extensions["qonys.settings"]
    address = request.remote_addr or "unknown"
    try:
        seen = auth_failures.count(current_app.extensions["qonys.redis"], address)
        item = parse(settings.auth_failure_limit)
        if limiter.limiter.hit(item, "authfail", address):
            return seen == 1, None
        reset = limiter.limiter.get_window_stats(item, "authfail", address).reset_time
    except Exception:  # no Redis: audit every failure, as before, and let it through
        log.warning("rate limit store unavailable", exc_info=True)
        return True, None
    return seen == 1, max(int(reset - time.time()), 1)
