"""Back-off for failed sign-ins, per account and address and per address.

A hard lock on an account lets anybody who knows a username lock its owner out. Here the
failures of one account count per address it is tried from: after ``login_max_failures``
that address waits (``login_lock_minutes``, doubling with each further block, at most a
day), while the owner signing in from their own address is not affected. Every address
also has its own budget across all usernames (four times as many failures), so spraying
many accounts from one place slows down too.

Usernames are keyed with an HMAC of the app secret, never stored as typed: a made-up name
backs off exactly like a real one (no existence oracle), and a password typed into the
username field is not kept.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from backend import clock
from backend.models import SigninThrottle
from backend.settings import Settings

ADDRESS_BUDGET_FACTOR = 4
MAX_BLOCK = timedelta(days=1)
# A key's back-off level is forgotten after a quiet day.
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt: who it names (keyed) and where it comes from."""

    username_key: str
    address: str

    @classmethod
    def of(cls, username: str, address: str, secret: bytes) -> Attempt:
        return cls(username_hash(username, secret), address[:45] or "unknown")

    @property
    def account_key(self) -> str:
        return f"acct:{self.username_key}:{self.address}"

    @property
    def address_key(self) -> str:
        return f"addr:{self.address}"


def username_hash(username: str, secret: bytes) -> str:
    """A keyed hash of a username as typed (trimmed, case-folded): 32 hex digits."""
    name = username.strip().casefold().encode("utf-8", "replace")
    return hmac.new(secret, b"signin:" + name, hashlib.sha256).hexdigest()[:32]


def blocked(session: Session, attempt: Attempt) -> bool:
    """True while this attempt's account-and-address or address must wait."""
    until = session.scalars(
        select(SigninThrottle.blocked_until).where(
            SigninThrottle.key.in_((attempt.account_key, attempt.address_key))
        )
    ).all()
    now = clock.now()
    return any(u is not None and u > now for u in until)


def fail(session: Session, attempt: Attempt, settings: Settings) -> bool:
    """Count a failure on both keys; True when the account-and-address key blocks now."""
    limit = settings.login_max_failures
    started = _count(session, attempt.account_key, limit, settings)
    _count(session, attempt.address_key, limit * ADDRESS_BUDGET_FACTOR, settings)
    return started


def succeed(session: Session, attempt: Attempt) -> None:
    """A complete sign-in clears its account-and-address key (never the address's)."""
    session.execute(delete(SigninThrottle).where(SigninThrottle.key == attempt.account_key))


def _count(session: Session, key: str, limit: int, settings: Settings) -> bool:
    now = clock.now()
    session.execute(
        insert(SigninThrottle)
        .values(key=key, failures=0, level=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalars(
        select(SigninThrottle).where(SigninThrottle.key == key).with_for_update()
    ).one()
    if row.updated_at < now - FORGET_AFTER:
        row.failures, row.level = 0, 0
    row.failures += 1
    row.updated_at = now
    started = False
    if row.failures >= limit:
        row.failures = 0
        row.level += 1
        row.blocked_until = now + _block(settings, row.level)
        started = True
    session.flush()
    return started


def _block(settings: Settings, level: int) -> timedelta:
    base = timedelta(minutes=settings.login_lock_minutes)
    wait: timedelta = base * (2 ** min(level - 1, 16))
    return min(wait, MAX_BLOCK)
