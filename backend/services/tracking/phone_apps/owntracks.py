"""OwnTracks in HTTP mode: its JSON messages, posted with the device token as the HTTP
Basic password (or as a bearer token).

- Units: ``vel`` in km/h, ``tst`` in epoch seconds, ``acc`` and ``alt`` in metres; the
  parser is ``phone_protocols.from_owntracks``.
- ``_type: encrypted`` payloads are libsodium secretbox messages under the device's key,
  read from the database only when one arrives; other message types and empty bodies
  are acknowledged with ``[]`` (the app expects a JSON list).
- X-Limit-U / X-Limit-D (or ``?u=&d=``) are kept as the point's user and device names.
- Set-up: OwnTracks' ``owntracks:///config?inline=<base64 JSON>`` link (a QR code).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import quote

from backend.services.tracking import phone_protocols as protocols
from backend.services.tracking.phone_apps.base import (
    PhoneApp,
    PhoneReading,
    PhoneRequest,
    SetupLink,
)
from backend.services.tracking.phone_apps.osmand import TRACCAR_INTERVAL_S, json_body
from backend.services.tracking.trace_points import PointError

PATH = "/api/v1/traces/owntracks"


def token_of(headers: dict[str, str] | Any) -> str | None:
    """The token in an ``Authorization`` header: a bearer token, or a Basic password."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return str(value.strip())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _identity(req: PhoneRequest) -> dict[str, str]:
    found = {
        "user": req.headers.get("x-limit-u") or req.args.get("u"),
        "device": req.headers.get("x-limit-d") or req.args.get("d"),
    }
    return {k: v[:64] for k, v in found.items() if v}  # cleaned with the other attributes


def read(req: PhoneRequest) -> PhoneReading:
    secret = token_of(req.headers)
    if not req.body.strip():  # the apps post zero-length bodies (e.g. a deleted friend)
        return PhoneReading(secret, "owntracks", lambda _p, _r, _k: [])
    message, parsed_ok = json_body(req.body)
    if not parsed_ok:
        return PhoneReading(
            secret, "owntracks", lambda _p, _r, _k: [PointError("the body is not JSON")]
        )
    encrypted = isinstance(message, dict) and message.get("_type") == "encrypted"
    identity = _identity(req)
    return PhoneReading(
        secret,
        "owntracks",
        lambda person, received, key: protocols.from_owntracks(
            message, person, received, key, identity
        ),
        needs_key=encrypted,
    )


def config(public_url: str, token: str, person_id: int, key: str | None) -> dict[str, Any]:
    """OwnTracks configuration: HTTP mode, our endpoint, Basic user and the token as password."""
    settings: dict[str, Any] = {
        "_type": "configuration",
        "mode": 3,
        "url": public_url.rstrip("/") + PATH,
        "auth": True,
        "username": f"person-{person_id}",
        "password": token,
        "deviceId": "phone",
        "tid": "QN",
        "monitoring": 1,
        "locatorInterval": TRACCAR_INTERVAL_S,
    }
    if key:
        settings["encryptionKey"] = key
    return settings


def config_uri(settings: dict[str, Any]) -> str:
    inline = base64.b64encode(json.dumps(settings, separators=(",", ":")).encode()).decode()
    return f"owntracks:///config?inline={quote(inline, safe='')}"


def setup(public_url: str, token: str, person_id: int, key: str | None) -> tuple[SetupLink, ...]:
    uri = config_uri(config(public_url, token, person_id, key))
    return (SetupLink("owntracks", "OwnTracks", uri, as_qr=True),)


APP = PhoneApp(
    name="owntracks",
    title="OwnTracks",
    path=PATH,
    methods=("POST",),
    summary="OwnTracks HTTP mode; a known device always gets 200 []",
    description="HTTP Basic password (or bearer) is the device token. `_type: location` is "
    "stored (vel in km/h, tst in epoch seconds); `_type: encrypted` is opened with the "
    "device's key (libsodium secretbox) when one is set, else refused and recorded; other "
    "types and empty bodies are acknowledged. X-Limit-U / X-Limit-D are kept as the "
    "point's user and device names.",
    read=read,
    setup=setup,
    answer=(200, "[]", "application/json"),
)
