"""Enrolling a monitored person's phone: a device token and QR codes that configure the app.

The token is what the phone presents (OsmAnd's ``id``, Traccar Client's device
identifier, OwnTracks' HTTP password). The QR codes carry the apps' own configuration
links: Traccar Client's ``org.traccar.client://`` URI and OwnTracks'
``owntracks:///config?inline=<base64 JSON>``, so an officer sets a phone up by scanning.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import segno
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import ApiToken, Person, TraceRefusal
from backend.services.tokens import create_token

OSMAND_PATH = "/api/v1/traces/osmand"
OWNTRACKS_PATH = "/api/v1/traces/owntracks"
# Traccar Client settings in its configuration link: report every 10 minutes.
TRACCAR_INTERVAL_S = 600


def osmand_template(public_url: str, token: str) -> str:
    """The URL to paste into OsmAnd's online tracking (its placeholders, not ours)."""
    return (
        f"{public_url.rstrip('/')}{OSMAND_PATH}?id={token}&lat={{0}}&lon={{1}}"
        "&timestamp={2}&hdop={3}&altitude={4}&speed={5}&bearing={6}"
    )


def traccar_uri(public_url: str, token: str) -> str:
    """Traccar Client's configuration link (server URL, device identifier, interval)."""
    query = urlencode(
        {
            "url": public_url.rstrip("/") + OSMAND_PATH,
            "id": token,
            "interval": TRACCAR_INTERVAL_S,
            "accuracy": "high",
            "service": "true",
        }
    )
    return f"org.traccar.client://config?{query}"


def owntracks_config(
    public_url: str, token: str, person_id: int, key: str | None
) -> dict[str, Any]:
    """OwnTracks configuration: HTTP mode, our endpoint, Basic user and the token as password."""
    config: dict[str, Any] = {
        "_type": "configuration",
        "mode": 3,
        "url": public_url.rstrip("/") + OWNTRACKS_PATH,
        "auth": True,
        "username": f"person-{person_id}",
        "password": token,
        "deviceId": "phone",
        "tid": "QN",
        "monitoring": 1,
        "locatorInterval": TRACCAR_INTERVAL_S,
    }
    if key:
        config["encryptionKey"] = key
    return config


def owntracks_uri(config: dict[str, Any]) -> str:
    inline = base64.b64encode(json.dumps(config, separators=(",", ":")).encode()).decode()
    return f"owntracks:///config?inline={quote(inline, safe='')}"


@dataclass(frozen=True)
class Enrolment:
    token: str
    token_id: int
    person_id: int
    expires_at: datetime | None
    traccar_uri: str
    owntracks_uri: str
    osmand_template: str
    encrypted: bool


def enrol(
    session: Session,
    person_id: int,
    public_url: str,
    expires_days: int | None,
    encrypt: bool = False,
) -> Enrolment:
    """A device token for the person's phone, and the links that configure the apps."""
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id} not found")
    secret, row = create_token(
        session,
        "device",
        person_id=person_id,
        label=f"phone of person {person_id}",
        expires_days=expires_days,
    )
    key = secrets.token_urlsafe(24) if encrypt else None
    row.owntracks_key = key
    session.flush()
    return Enrolment(
        token=secret,
        token_id=row.id,
        person_id=person_id,
        expires_at=row.expires_at,
        traccar_uri=traccar_uri(public_url, secret),
        owntracks_uri=owntracks_uri(owntracks_config(public_url, secret, person_id, key)),
        osmand_template=osmand_template(public_url, secret),
        encrypted=key is not None,
    )


def write_qr_codes(enrolment: Enrolment, directory: Path) -> list[Path]:
    """PNG and SVG QR codes for Traccar Client and OwnTracks, side by side (mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for app, uri in (("traccar", enrolment.traccar_uri), ("owntracks", enrolment.owntracks_uri)):
        code = segno.make(uri, error="m")
        for ext in ("png", "svg"):
            path = directory / f"device-{enrolment.token_id}-{app}.{ext}"
            code.save(str(path), scale=6 if ext == "png" else 4, border=4)
            path.chmod(0o600)  # the code carries the token
            written.append(path)
    return written


def refusals(session: Session, token_id: int, limit: int) -> list[TraceRefusal]:
    """What a device sent that was refused, newest first."""
    if session.get(ApiToken, token_id) is None:
        raise NotFound(f"token {token_id} not found")
    return list(
        session.scalars(
            select(TraceRefusal)
            .where(TraceRefusal.token_id == token_id)
            .order_by(TraceRefusal.received_at.desc(), TraceRefusal.id.desc())
            .limit(limit)
        )
    )


def owntracks_key_of(session: Session, token_id: int) -> str | None:
    """The device's OwnTracks encryption key, read only when an encrypted message arrives."""
    return session.scalar(select(ApiToken.owntracks_key).where(ApiToken.id == token_id))


def refusal_count(session: Session, token_id: int) -> int:
    return int(session.scalar(select(func.count()).where(TraceRefusal.token_id == token_id)) or 0)


def loopback_url(public_url: str) -> bool:
    """Whether ``public_url`` names this machine only (127.0.0.0/8, ::1, localhost): a
    phone given such a URL would send its points to itself."""
    host = (urlsplit(public_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def qr_data_uris(enrolment: Enrolment) -> dict[str, str]:
    """The two apps' QR codes as SVG data URIs, for a page to show (never stored)."""
    return {
        app: segno.make(uri, error="m").svg_data_uri(scale=4, border=4)
        for app, uri in (("traccar", enrolment.traccar_uri), ("owntracks", enrolment.owntracks_uri))
    }
