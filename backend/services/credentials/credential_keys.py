"""The keys that sign credentials and status lists: Ed25519, each with a key id.

Ed25519 signatures are deterministic: the same document signed by the same key gives
the same text, so the JSON answer, its QR code and its printed sheet always agree.

A key ring is a list of private JWKs with three extra members: ``kid`` (the first 11
characters of the RFC 7638 thumbprint), ``created`` and, once a newer key has taken over,
``retired`` (epoch seconds). The newest key signs; a retired key is still published, and
so still verifies what it signed, for ``credential_key_grace_days`` after retirement.

The private keys live in the data folder, one file per key created with ``O_EXCL`` and
mode 0600, or come whole from the ``QONYS_CREDENTIAL_KEYS`` secret (then the ring is
read-only: rotating is the secret owner's job). Only public members ever leave.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey

from backend.settings import Settings

# RFC 9864's fully-specified name for EdDSA with Ed25519 (the same as WebCrypto's).
ALGORITHM = "Ed25519"
_PUBLIC_MEMBERS = ("kty", "crv", "x", "kid")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: OKPKey
    created: int
    retired: int | None


def keys_dir(settings: Settings) -> Path:
    return Path(settings.credential_keys_dir or settings.data_dir / "credential_keys")


def _parse(entry: dict[str, Any]) -> SigningKey:
    members = {k: v for k, v in entry.items() if k in (*_PUBLIC_MEMBERS, "d")}
    return SigningKey(
        entry["kid"], OKPKey.import_key(members), int(entry["created"]), entry.get("retired")
    )


def _write_new(folder: Path, entry: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{entry['created']:012d}-{entry['kid']}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(entry, out)


def _generate(created: int) -> dict[str, Any]:
    key = OKPKey.generate_key("Ed25519", private=True)
    entry: dict[str, Any] = dict(key.as_dict(private=True))
    entry.update(kid=key.thumbprint()[:11], created=created)
    return entry


def load_ring(settings: Settings) -> list[SigningKey]:
    """Every key, oldest first; a first key is generated when the folder has none."""
    if settings.credential_keys:
        return sorted((_parse(e) for e in json.loads(settings.credential_keys)), key=_order)
    folder = keys_dir(settings)
    files = sorted(folder.glob("*.json")) if folder.exists() else []
    if not files:
        _write_new(folder, _generate(int(time.time())))
        files = sorted(folder.glob("*.json"))
    return sorted((_parse(json.loads(f.read_text("utf-8"))) for f in files), key=_order)


def _order(key: SigningKey) -> tuple[int, str]:
    return key.created, key.kid


def signing_key(settings: Settings) -> SigningKey:
    """The key that signs now: the newest one."""
    return load_ring(settings)[-1]


def rotate(settings: Settings) -> SigningKey:
    """A new key signs from now on; the previous ones are marked retired (still verifying
    for the grace period)."""
    if settings.credential_keys:
        raise ValueError("the keys come from QONYS_CREDENTIAL_KEYS: rotate them there")
    now = int(time.time())
    folder = keys_dir(settings)
    load_ring(settings)
    for path in folder.glob("*.json"):
        entry = json.loads(path.read_text("utf-8"))
        if entry.get("retired") is None:
            entry["retired"] = now
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(entry, out)
            tmp.replace(path)
    # A key created in the same second as the last one still sorts after it.
    newest = max(k.created for k in load_ring(settings))
    _write_new(folder, _generate(max(now, newest + 1)))
    return signing_key(settings)


def public_jwks(settings: Settings, now: float | None = None) -> dict[str, Any]:
    """The JWK Set to publish: the public half of every key still verifying."""
    now = time.time() if now is None else now
    grace = settings.credential_key_grace_days * 86400
    keys = []
    for item in load_ring(settings):
        if item.retired is not None and item.retired + grace < now:
            continue
        public: dict[str, Any] = {
            k: v for k, v in item.key.as_dict(private=False).items() if k in _PUBLIC_MEMBERS
        }
        public.update(kid=item.kid, alg=ALGORITHM, use="sig")
        if item.retired is not None:
            public["exp"] = item.retired + grace
        keys.append(public)
    return {"keys": keys}
