"""Web Push to the officer's installed page (RFC 8030 delivery, RFC 8291 encryption,
RFC 8292 VAPID), through ``pywebpush``.

The server's VAPID key pair is generated into the data folder on first use (mode 0600,
created with ``O_EXCL`` so two processes agree on one key); its public half is what the
page's service worker subscribes with. A subscription — the push service's endpoint and
the browser's keys — belongs to one officer account; the outbox delivers to it
(:func:`backend.services.notify.channels.send_push`) and forgets it when the push service
answers 404 or 410 (the browser unsubscribed, or the subscription expired).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.errors import Invalid, NotFound
from backend.models import PushSubscription
from backend.settings import Settings

KEY_FILE = "vapid_private.pem"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@cache
def _load(path: Path) -> Vapid:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = Vapid()
        fresh.generate_keys()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(fresh.private_pem())
    return Vapid.from_file(str(path))


def vapid(settings: Settings) -> Vapid:
    """The server's VAPID key, generated into ``data_dir`` when missing."""
    return _load(Path(settings.data_dir) / KEY_FILE)


def public_key(settings: Settings) -> str:
    """The VAPID public key as the page's ``applicationServerKey``: the uncompressed P-256
    point, base64url without padding."""
    key = vapid(settings).public_key
    return _b64url(key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _check(settings: Settings, endpoint: str, p256dh: str, auth: str) -> None:
    try:
        url = urlsplit(endpoint)
        host = url.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise Invalid("endpoint", "must be the push service's https URL") from None
    plain_ok = settings.push_allow_http and _loopback(host)
    if not host or not (url.scheme == "https" or (url.scheme == "http" and plain_ok)):
        raise Invalid("endpoint", "must be the push service's https URL")
    for field, value, size in (("keys.p256dh", p256dh, 65), ("keys.auth", auth, 16)):
        try:
            raw = _unb64url(value)
        except (binascii.Error, ValueError):
            raise Invalid(field, "must be base64url") from None
        if len(raw) != size or (size == 65 and raw[0] != 4):
            what = "an uncompressed P-256 point" if size == 65 else "16 bytes"
            raise Invalid(field, f"must be {what}, base64url")


def subscribe(
    session: Session,
    settings: Settings,
    user_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    user_agent: str | None,
) -> PushSubscription:
    """Keep (or move to this account) a browser's subscription; one row per endpoint."""
    _check(settings, endpoint, p256dh, auth)
    row = session.scalars(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint).with_for_update()
    ).one_or_none()
    if row is None:
        row = PushSubscription(endpoint=endpoint)
        session.add(row)
    row.user_id, row.p256dh, row.auth = user_id, p256dh, auth
    row.user_agent = (user_agent or "")[:300] or None
    session.flush()
    return row


def subscriptions(session: Session, user_id: int) -> list[PushSubscription]:
    return list(
        session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id == user_id)
            .order_by(PushSubscription.id)
        )
    )


def unsubscribe(session: Session, user_id: int, endpoint: str) -> None:
    """The officer withdraws a browser's subscription (only their own)."""
    gone = session.execute(
        delete(PushSubscription)
        .where(PushSubscription.user_id == user_id, PushSubscription.endpoint == endpoint)
        .returning(PushSubscription.id)
    ).all()
    if not gone:
        raise NotFound("no such push subscription of this account")


def forget(session: Session, endpoint: str) -> None:
    """The push service said the subscription is gone (404/410)."""
    session.execute(delete(PushSubscription).where(PushSubscription.endpoint == endpoint))
