"""API tokens: created by an administrator, stored hashed, verified in constant time."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import Connection, func, or_, select
from sqlalchemy.orm import Session

from backend.errors import Invalid, NotFound
from backend.identifiers import ascii_digits
from backend.models import ApiToken, TraceRefusal, User
from backend.models.registries import ROLES

TOKEN_PREFIX = "qny_"
# Revocations are published here (the token's hash, never the secret) so that every
# process drops a cached token at once.
REVOKED_CHANNEL = "qonys:tokens:revoked"
# How often the revocation listener's quiet connection is pinged (redis-py's health check).
HEALTH_CHECK_S = 1
log = logging.getLogger("qonys.tokens")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's role and the scope it is bound to."""

    token_id: int
    role: str
    employer_bin: str | None = None
    person_id: int | None = None
    region_kato: str | None = None
    # Set for actors that are not API tokens, such as an operator at the command line.
    name: str | None = None
    expires_at: datetime | None = None
    # Set when the caller signed in with a browser rather than presenting a token.
    user_id: int | None = None
    # The person a token belongs to (``api_tokens.owner``).
    owner: str | None = None

    @property
    def device_person(self) -> int:
        """The person a device token reports for; every device token is bound to one."""
        if self.person_id is None:
            raise ValueError(f"token {self.token_id} is not bound to a person")
        return self.person_id

    @property
    def actor(self) -> str:
        return self.name or f"token:{self.token_id}"

    @property
    def person(self) -> str:
        """The person behind the request: what separation-of-duties checks compare.

        A token counts as its owner, a browser session and an operator at the command
        line as their account or login, so one person with two tokens, or a token and a
        session, is one person. The one home of this rule: four-eyes checks call it.
        """
        if self.owner:
            return self.owner
        return self.name or f"token:{self.token_id}"


def hash_token(secret: str) -> str:
    """The stored form of a secret. A lone surrogate (``"\\ud800"`` in a phone's JSON
    body) cannot be UTF-8: kept as its code point, it hashes to what no token is, and
    the sender is told 401, never 500."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def owner_of_account(session: Session, username: str) -> str:
    """The owner recorded for a token that ``--owner USERNAME`` gives to an account."""
    name = username.strip()
    if session.scalar(select(User.id).where(User.username == name)) is None:
        raise Invalid("owner", f"no account named {name!r}")
    return f"user:{name}"


def create_token(
    session: Session,
    role: str,
    employer_bin: str | None = None,
    person_id: int | None = None,
    region_kato: str | None = None,
    label: str | None = None,
    expires_days: int | None = None,
    *,
    owner: str,
) -> tuple[str, ApiToken]:
    """Create a token and return its secret (shown once) and the stored row.

    ``owner`` is the person it belongs to: ``user:<username>`` (see
    :func:`owner_of_account`) or the operator who made it (their ``actor``).
    """
    if not owner or len(owner) > 64:
        raise Invalid("owner", "every token belongs to a named person")
    if role not in ROLES:
        raise Invalid("role", f"must be one of {', '.join(ROLES)}")
    if role == "employer" and not employer_bin:
        raise Invalid("employer", "an employer token must be bound to a BIN")
    if role == "device" and person_id is None:
        raise Invalid("person", "a device token must be bound to a person")
    if region_kato is not None and role != "officer":
        raise Invalid("region", "only officer tokens are limited to a region")
    if expires_days is not None and not 0 < expires_days <= 3650:
        raise Invalid("expires_days", "must be between 1 and 3650 days")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=hash_token(secret),
        role=role,
        employer_bin=employer_bin,
        person_id=person_id,
        region_kato=region_kato,
        label=label,
        expires_at=datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None,
        owner=owner,
    )
    session.add(row)
    session.flush()
    return secret, row


def verify_token(conn: Session | Connection, secret: str) -> Principal | None:
    """The principal behind a presented secret, or None. Hashes compare in constant time.

    One indexed lookup on the hash; it runs on every request, so it stays a single
    Core statement (the caller may use an autocommit connection).
    """
    if not secret or len(secret) > 200:
        return None
    digest = hash_token(secret)
    row = conn.execute(
        select(
            ApiToken.id,
            ApiToken.token_hash,
            ApiToken.role,
            ApiToken.employer_bin,
            ApiToken.person_id,
            ApiToken.region_kato,
            ApiToken.expires_at,
            ApiToken.owner,
        ).where(
            ApiToken.token_hash == digest,
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now()),
        )
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(
        row.id,
        row.role,
        row.employer_bin,
        row.person_id,
        row.region_kato,
        expires_at=row.expires_at,
        owner=row.owner,
    )


@dataclass(frozen=True)
class TokenState:
    """A token as administrators see it: never its secret."""

    token: ApiToken
    state: str  # active, expired or revoked
    refusals: int


def list_tokens(session: Session, role: str | None = None) -> list[TokenState]:
    """Every token with its scope, lifetime, last contact and refused input."""
    refusals = (
        select(TraceRefusal.token_id, func.count().label("n"))
        .group_by(TraceRefusal.token_id)
        .subquery()
    )
    query = (
        select(ApiToken, func.coalesce(refusals.c.n, 0))
        .outerjoin(refusals, refusals.c.token_id == ApiToken.id)
        .order_by(ApiToken.id)
    )
    if role:
        query = query.where(ApiToken.role == role)
    now = datetime.now(UTC)
    result = []
    for row, refused in session.execute(query):
        state = "active"
        if row.revoked_at is not None:
            state = "revoked"
        elif row.expires_at is not None and row.expires_at <= now:
            state = "expired"
        result.append(TokenState(row, state, int(refused)))
    return result


def find_token(session: Session, id_or_secret: str) -> ApiToken:
    """A token by the id ``token list`` shows, or by the secret itself."""
    row: ApiToken | None
    if ascii_digits(id_or_secret) and len(id_or_secret) < 10:
        row = session.get(ApiToken, int(id_or_secret))
    else:
        row = session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(id_or_secret))
        )
    if row is None:
        raise NotFound("no such token")
    return row


def revoke_token(session: Session, row: ApiToken) -> ApiToken:
    """Revoke a token; publish the revocation after commit with :func:`announce_revocation`."""
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
    return row


def announce_revocation(redis_conn: Any, token_hash: str) -> None:
    """Tell every process to forget a cached token now (the hash travels, not the secret)."""
    TOKEN_CACHE.forget(token_hash)
    try:
        redis_conn.publish(REVOKED_CHANNEL, token_hash)
    except redis.RedisError:
        # Caches stop trusting themselves when they lose Redis, so none outlives this.
        log.warning("could not publish a token revocation", exc_info=True)


class TokenCache:
    """Verified tokens, trusted for a few seconds without a lookup.

    The cache is used only while this process is subscribed to the revocation channel:
    a revocation reaches every process at once, and a process that loses Redis stops
    trusting (and empties) its cache until it is subscribed again.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        self._live = threading.Event()
        self._thread: threading.Thread | None = None
        self.ttl_s = 0.0

    def start(self, redis_url: str, ttl_s: float) -> None:
        with self._lock:
            self.ttl_s = ttl_s
            if ttl_s <= 0 or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._listen, args=(redis_url,), name="token-revocations", daemon=True
            )
            self._thread.start()

    def get(self, digest: str) -> Principal | None:
        if not self._live.is_set():
            return None
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[1] < time.monotonic():
            return None
        who = entry[0]
        if who.expires_at is not None and who.expires_at <= datetime.now(UTC):
            return None
        return who

    def put(self, digest: str, who: Principal) -> None:
        if self._live.is_set():
            with self._lock:
                self._entries[digest] = (who, time.monotonic() + self.ttl_s)

    def forget(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def live(self) -> bool:
        return self._live.is_set()

    def _listen(self, redis_url: str) -> None:
        backoff = 0.5
        while True:
            try:
                # redis-py pings the subscribed connection itself when it has been quiet
                # for HEALTH_CHECK_S, so a dead Redis raises here within seconds. (A ping
                # after every empty read answered at once, as the pong is a message too:
                # about 2,000 pings a second per process, a third of Redis's CPU.)
                conn = redis.Redis.from_url(
                    redis_url,
                    socket_connect_timeout=2,
                    socket_timeout=5,
                    health_check_interval=HEALTH_CHECK_S,
                )
                pubsub = conn.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(REVOKED_CHANNEL)
                pubsub.get_message(timeout=2)  # the subscription's confirmation
                self.clear()
                self._live.set()
                backoff = 0.5
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self.forget(message["data"].decode("ascii", "replace"))
            except Exception:  # Redis gone: stop trusting the cache until subscribed again
                self._live.clear()
                self.clear()
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)


TOKEN_CACHE = TokenCache()


def verify_cached(conn_factory: Any, secret: str) -> Principal | None:
    """A presented secret's principal, from the cache when it can be trusted."""
    if not secret or len(secret) > 200:
        return None
    digest = hash_token(secret)
    who = TOKEN_CACHE.get(digest)
    if who is not None:
        return who
    with conn_factory() as conn:
        who = verify_token(conn, secret)
    if who is not None:
        TOKEN_CACHE.put(digest, who)
    return who
