"""Revocation that works offline: signed status lists (IETF OAuth Token Status List).

One list per kind of document (``permits``, ``registrations``); a credential's index in
its list is the document's id, so issuing allocates nothing. Each entry has two bits
(draft-ietf-oauth-status-list §7.1): 0 valid, 1 invalid (the permit was revoked),
3 application-specific: ended early (a permit terminated by its employer's notice, a
registration ended). Expiry needs no bit: the validity dates are signed into the
credential. The bitmap is DEFLATE-compressed with the ZLIB format, base64url-encoded and
signed as a ``statuslist+jwt`` by the credential key ring, the same way the spec's
reference implementations do (no maintained Python library implements the draft; the
algorithm is the spec's §4 in a few lines).

The scheduled job republishes each list every minute, and only when it changed.
"""

from __future__ import annotations

import base64
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import NotFound
from backend.services.credentials.credential_keys import ALGORITHM, signing_key
from backend.settings import Settings

BITS = 2
VALID, INVALID, ENDED = 0, 1, 3
# How long a verifier may cache a list before asking again (seconds, the spec's ``ttl``).
TTL_S = 60

# Each list: the entries that are not VALID, and the size: the largest index rounded up,
# plus a block of headroom, so that a document issued since the last run reads VALID
# rather than "outside the list" (a block of zeros compresses to a few bytes).
HEADROOM = 65536
_SOURCES = {
    "permits": (
        "SELECT id, CASE status WHEN 'revoked' THEN 1 ELSE 3 END AS value FROM permits "
        "WHERE status IN ('revoked', 'terminated')",
        "SELECT coalesce(max(id), 0) + 1 FROM permits",
    ),
    "registrations": (
        "SELECT id, 3 AS value FROM registrations WHERE ended_on IS NOT NULL",
        "SELECT coalesce(max(id), 0) + 1 FROM registrations",
    ),
}
NAMES = tuple(_SOURCES)
UPSERT = text(
    """
INSERT INTO credential_status_lists (name, token, lst, entries, compressed_bytes, published_at)
VALUES (:name, :token, :lst, :entries, :compressed_bytes, :published_at)
ON CONFLICT (name) DO UPDATE SET token = excluded.token, lst = excluded.lst,
    entries = excluded.entries, compressed_bytes = excluded.compressed_bytes,
    published_at = excluded.published_at
WHERE credential_status_lists.lst IS DISTINCT FROM excluded.lst
   OR credential_status_lists.published_at < excluded.published_at - interval '1 day'
"""
)


def encode(values: dict[int, int], size: int, bits: int = BITS) -> str:
    """The spec's ``lst``: entry ``i`` at bit ``i*bits`` counting from each byte's least
    significant bit, ZLIB-compressed (level 9), base64url without padding."""
    per_byte = 8 // bits
    raw = bytearray((size + per_byte - 1) // per_byte)
    for index, value in values.items():
        raw[index // per_byte] |= value << ((index % per_byte) * bits)
    packed = zlib.compress(bytes(raw), 9)
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode()


def decode(lst: str, index: int, bits: int = BITS) -> int:
    """The status at ``index`` of an encoded list (what a verifier does)."""
    raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    per_byte = 8 // bits
    if index // per_byte >= len(raw):
        raise IndexError(f"index {index} is outside the list")
    return (raw[index // per_byte] >> ((index % per_byte) * bits)) & ((1 << bits) - 1)


def list_uri(settings: Settings, name: str) -> str:
    return f"{settings.public_url.rstrip('/')}/api/v1/status-lists/{name}"


def sign(settings: Settings, name: str, lst: str) -> str:
    key = signing_key(settings)
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": list_uri(settings, name),
        "iss": settings.credential_issuer,
        "iat": now,
        "ttl": TTL_S,
        "status_list": {"bits": BITS, "lst": lst},
    }
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": "statuslist+jwt"}
    return jwt.encode(header, claims, key.key, algorithms=[ALGORITHM])


@dataclass(frozen=True)
class Published:
    name: str
    changed: bool
    entries: int
    compressed_bytes: int


def publish(db: Session | Connection, settings: Settings) -> list[Published]:
    """Rebuild every list from the register (one query per list) and store the signed
    token of each that changed. Safe to run any number of times."""
    done = []
    for name, (entries_sql, size_sql) in _SOURCES.items():
        values = {int(i): int(v) for i, v in db.execute(text(entries_sql))}
        size = (int(db.execute(text(size_sql)).scalar_one()) // HEADROOM + 2) * HEADROOM
        lst = encode(values, size)
        token = sign(settings, name, lst)
        changed = db.execute(  # type: ignore[attr-defined]
            UPSERT,
            {
                "name": name,
                "token": token,
                "lst": lst,
                "entries": size,
                "compressed_bytes": len(lst) * 3 // 4,
                "published_at": clock.now(),
            },
        ).rowcount
        done.append(Published(name, bool(changed), size, len(lst) * 3 // 4))
    return done


@dataclass(frozen=True)
class StoredList:
    token: str
    published_at: datetime


def stored(db: Session | Connection, name: str) -> StoredList:
    row = db.execute(
        text("SELECT token, published_at FROM credential_status_lists WHERE name = :name"),
        {"name": name},
    ).first()
    if row is None:
        raise NotFound(f"status list {name} not found")
    return StoredList(row.token, row.published_at)
