"""API tokens: created by an administrator, stored hashed, verified in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from backend.errors import Invalid
from backend.models import ApiToken

ROLES = ("admin", "analyst", "officer", "employer", "device")
TOKEN_PREFIX = "qny_"


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

    @property
    def actor(self) -> str:
        return self.name or f"token:{self.token_id}"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    role: str,
    employer_bin: str | None = None,
    person_id: int | None = None,
    region_kato: str | None = None,
    label: str | None = None,
) -> tuple[str, ApiToken]:
    """Create a token and return its secret (shown once) and the stored row."""
    if role not in ROLES:
        raise Invalid("role", f"must be one of {', '.join(ROLES)}")
    if role == "employer" and not employer_bin:
        raise Invalid("employer", "an employer token must be bound to a BIN")
    if role == "device" and person_id is None:
        raise Invalid("person", "a device token must be bound to a person")
    if region_kato is not None and role != "officer":
        raise Invalid("region", "only officer tokens are limited to a region")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=hash_token(secret),
        role=role,
        employer_bin=employer_bin,
        person_id=person_id,
        region_kato=region_kato,
        label=label,
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
        ).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(row.id, row.role, row.employer_bin, row.person_id, row.region_kato)
