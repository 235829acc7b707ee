"""Enrolling a monitored person's phone: a device token and QR codes that configure the app.

The token is what the phone presents (OsmAnd's and GPSLogger's ``id``, Traccar Client's
device identifier, OwnTracks' HTTP password). Each app of the registry
(``services/phone_apps``) says how a phone is set up: a configuration link shown as a
QR code (Traccar Client, OwnTracks), or a URL to paste (OsmAnd, GPSLogger).
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import segno
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import ApiToken, Person, TraceRefusal
from backend.services.access.tokens import create_token
from backend.services.tracking import phone_apps
from backend.services.tracking.phone_apps import SetupLink


@dataclass(frozen=True)
class Enrolment:
    token: str
    token_id: int
    person_id: int
    expires_at: datetime | None
    links: tuple[SetupLink, ...]
    encrypted: bool

    def link(self, app: str) -> str:
        return next(item.value for item in self.links if item.app == app)

    @property
    def traccar_uri(self) -> str:
        return self.link("traccar")

    @property
    def owntracks_uri(self) -> str:
        return self.link("owntracks")

    @property
    def osmand_template(self) -> str:
        return self.link("osmand")

    @property
    def gpslogger_url(self) -> str:
        return self.link("gpslogger")


def enrol(
    session: Session,
    person_id: int,
    public_url: str,
    expires_days: int | None,
    encrypt: bool = False,
    *,
    owner: str,
) -> Enrolment:
    """A device token for the person's phone, and the links that configure the apps.

    ``owner`` is the person who enrolled it (:attr:`Principal.person`)."""
    if session.get(Person, person_id) is None:
        raise NotFound(f"person {person_id} not found")
    secret, row = create_token(
        session,
        "device",
        person_id=person_id,
        label=f"phone of person {person_id}",
        expires_days=expires_days,
        owner=owner,
    )
    key = secrets.token_urlsafe(24) if encrypt else None
    row.owntracks_key = key
    session.flush()
    return Enrolment(
        token=secret,
        token_id=row.id,
        person_id=person_id,
        expires_at=row.expires_at,
        links=phone_apps.setup_links(public_url, secret, person_id, key),
        encrypted=key is not None,
    )


def write_qr_codes(enrolment: Enrolment, directory: Path) -> list[Path]:
    """PNG and SVG QR codes of the apps' configuration links, side by side (mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for link in enrolment.links:
        if not link.as_qr:
            continue
        app, code = link.app, segno.make(link.value, error="m")
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
    """The apps' QR codes as SVG data URIs, for a page to show (never stored)."""
    return {
        link.app: segno.make(link.value, error="m").svg_data_uri(scale=4, border=4)
        for link in enrolment.links
        if link.as_qr
    }
