"""What phone tracking apps send, read the way each app really sends it.

- **Traccar Client** (legacy Android and iOS apps, and the v10 form body) and **OsmAnd**
  share the OsmAnd protocol: query string or form fields. Traccar Client sends ``speed``
  in knots and ``accuracy`` in metres; OsmAnd's URL template has no ``accuracy`` — its
  ``{3}``, named ``hdop``, is the accuracy in metres — and its ``{5}`` speed is in m/s.
  So ``hdop`` without ``accuracy`` marks an OsmAnd request.
- **Traccar Client 9.x** posts JSON (``application/json``): ``{"location": {...},
  "device_id": ...}``, read as Traccar's own ``OsmAndProtocolDecoder.decodeJson`` does:
  speed in m/s, -1 meaning unknown, battery level 0..1.
- **OwnTracks** posts its JSON messages; ``_type: encrypted`` payloads are libsodium
  secretbox messages under the device's key.

A parser yields, per point, a :class:`Point` (not yet checked), ``None`` for a heartbeat
without a fix, or the :class:`PointError` that refused it — one bad point never takes
the request's other points with it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

from backend.services.tracking.trace_points import (
    FLAG_MOCK,
    FLAG_NO_TIMESTAMP,
    KMH_TO_MPS,
    KNOTS_TO_MPS,
    Point,
    PointError,
    number,
    parse_time,
)

Parsed = Point | None | PointError
# Keys that carry the device token: never stored, never logged.
SECRET_KEYS = frozenset({"id", "deviceid", "device_id", "i"})
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_CHARS = 256
TRUE_TEXTS = frozenset({"true", "1", "yes"})


def _clean_text(value: str) -> str:
    """Attribute text as PostgreSQL's jsonb can hold it: no NUL, no lone surrogate."""
    cleaned = value.replace("\x00", "")[:MAX_ATTRIBUTE_CHARS]
    return cleaned.encode("utf-8", "replace").decode("utf-8")


def _plain_scalar(value: Any) -> bool:
    """A boolean or a finite number that jsonb and JavaScript read back unchanged."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**53) < value < 2**53
    return isinstance(value, float) and math.isfinite(value)


def _attributes(items: Mapping[str, Any]) -> dict[str, Any] | None:
    """Extra fields kept with a point: scalars only, bounded, text cleaned."""
    kept: dict[str, Any] = {}
    for key, value in items.items():
        if len(kept) >= MAX_ATTRIBUTES:
            break
        if not isinstance(key, str) or key in SECRET_KEYS:
            continue
        if isinstance(value, str):
            value = _clean_text(value)
        elif not _plain_scalar(value):
            continue
        kept[_clean_text(key)] = value
    return kept or None


def _time(value: Any, received: datetime, flags: list[str]) -> datetime:
    if value is None or value == "":
        flags.append(FLAG_NO_TIMESTAMP)
        return received
    return parse_time(value)


# --- OsmAnd protocol: Traccar Client (query or form) and the OsmAnd app -------------

OSMAND_KNOWN = frozenset(
    {
        "lat",
        "lon",
        "location",
        "timestamp",
        "accuracy",
        "hdop",
        "speed",
        "bearing",
        "heading",
        "altitude",
        "batt",
        "mock",
        "alarm",
    }
)


def is_osmand_app(params: Mapping[str, str]) -> bool:
    """OsmAnd's template names its accuracy ``hdop`` and has no ``accuracy`` field."""
    return "hdop" in params and "accuracy" not in params


def from_osmand_params(params: Mapping[str, str], person_id: int, received: datetime) -> Parsed:
    """One point of the OsmAnd protocol; None when the request carries no fix."""
    try:
        lat, lon = params.get("lat"), params.get("lon")
        if params.get("location") and not (lat or lon):
            lat, _, lon = params["location"].partition(",")
        if not lat and not lon:
            return None
        osmand = is_osmand_app(params)
        flags: list[str] = []
        t = _time(params.get("timestamp"), received, flags)
        speed = number(params, "speed")
        bearing = number(params, "bearing")
        if bearing is None:
            bearing = number(params, "heading")
        extras = {k: v for k, v in params.items() if k not in OSMAND_KNOWN}
        if not osmand and params.get("hdop"):
            extras["hdop"] = params["hdop"]
        if params.get("alarm"):
            extras["alarm"] = params["alarm"]
        if params.get("mock", "").lower() in TRUE_TEXTS:
            flags.append(FLAG_MOCK)
        return Point(
            person_id=person_id,
            t=t,
            lat=number({"lat": lat}, "lat", required=True) or 0.0,
            lon=number({"lon": lon}, "lon", required=True) or 0.0,
            accuracy_m=number(params, "hdop" if osmand else "accuracy"),
            speed_mps=_scaled(speed, 1.0 if osmand else KNOTS_TO_MPS),
            bearing_deg=bearing,
            altitude_m=number(params, "altitude"),
            battery_pct=number(params, "batt"),
            attributes=_attributes(extras),
            flags=flags,
        )
    except PointError as exc:
        return exc


# --- Traccar Client 9.x JSON ---------------------------------------------------------


def _scaled(value: float | None, factor: float) -> float | None:
    """A value in another unit (knots, km/h, a 0..1 battery level) in ours; a negative one
    as sent, for ``settle_optional`` to read: -1 is "unknown" (dropped), any other
    negative implausible (dropped with a flag). Converted, -1 knot read as -0.51 m/s,
    which looked implausible."""
    return value if value is None or value < 0 else value * factor


def _from_traccar_location(location: Any, person_id: int, received: datetime) -> Parsed:
    if not isinstance(location, Mapping):
        return PointError("location must be an object")
    try:
        coords = location.get("coords")
        if not isinstance(coords, Mapping):
            return None  # Traccar keeps the last location: a contact without a fix
        flags: list[str] = []
        t = _time(location.get("timestamp"), received, flags)
        extras: dict[str, Any] = {}
        for key, name in (("event", "event"), ("is_moving", "motion"), ("odometer", "odometer")):
            if location.get(key) not in (None, ""):
                extras[name] = location[key]
        if isinstance(location.get("activity"), Mapping):
            extras["activity"] = location["activity"].get("type")
        battery = location.get("battery")
        level = None
        if isinstance(battery, Mapping):
            level = number(battery, "level")
            if battery.get("is_charging") is True:
                extras["charge"] = True
        if isinstance(location.get("extras"), Mapping):
            extras.update({k: v for k, v in location["extras"].items() if k not in extras})
        if location.get("alarm"):
            extras["alarm"] = location["alarm"]
        if location.get("mock") is True:
            flags.append(FLAG_MOCK)
        return Point(
            person_id=person_id,
            t=t,
            lat=number(coords, "latitude", required=True) or 0.0,
            lon=number(coords, "longitude", required=True) or 0.0,
            accuracy_m=number(coords, "accuracy"),
            speed_mps=number(coords, "speed"),
            bearing_deg=number(coords, "heading"),
            altitude_m=number(coords, "altitude"),
            battery_pct=_scaled(level, 100),
            attributes=_attributes(extras),
            flags=flags,
        )
    except PointError as exc:
        return exc


def traccar_json_device_id(root: Any) -> str | None:
    device_id = root.get("device_id") if isinstance(root, Mapping) else None
    return device_id if isinstance(device_id, str) else None


def from_traccar_json(root: Mapping[str, Any], person_id: int, received: datetime) -> list[Parsed]:
    """The points of a Traccar Client JSON body (one location, or a list when batched)."""
    location = root.get("location")
    locations = location if isinstance(location, list) else [location]
    return [_from_traccar_location(item, person_id, received) for item in locations]


# --- OwnTracks -----------------------------------------------------------------------

OWNTRACKS_KEPT = frozenset({"tid", "t", "conn", "bs", "m", "vac", "topic", "created_at", "p"})


class UndecryptableMessage(PointError):
    """An encrypted OwnTracks message that this device's key does not open."""


def owntracks_key(secret: str) -> bytes:
    """The app's key: the passphrase's UTF-8 bytes in a zero-padded 32-byte buffer."""
    return secret.encode("utf-8")[: SecretBox.KEY_SIZE].ljust(SecretBox.KEY_SIZE, b"\0")


def decrypt_owntracks(data: Any, secret: str | None) -> Any:
    """The JSON message inside ``{"_type": "encrypted", "data": base64(nonce + box)}``."""
    if not secret:
        raise UndecryptableMessage("encrypted payload, but no key is set for this device")
    if not isinstance(data, str):
        raise UndecryptableMessage("encrypted payload without data")
    try:
        blob = base64.b64decode(data, validate=True)
        plain = SecretBox(owntracks_key(secret)).decrypt(
            blob[SecretBox.NONCE_SIZE :], blob[: SecretBox.NONCE_SIZE]
        )
        return json.loads(plain.decode("utf-8"))
    except (binascii.Error, CryptoError, ValueError) as exc:
        raise UndecryptableMessage(
            "encrypted payload does not open with this device's key"
        ) from exc


def from_owntracks(
    message: Any, person_id: int, received: datetime, key: str | None, identity: Mapping[str, str]
) -> list[Parsed]:
    """Location points of one OwnTracks message; other message types carry none."""
    if not isinstance(message, Mapping):
        return [PointError("an OwnTracks message must be a JSON object")]
    kind = message.get("_type")
    if kind == "encrypted":
        try:
            inner = decrypt_owntracks(message.get("data"), key)
        except UndecryptableMessage as exc:
            return [exc]
        if isinstance(inner, Mapping) and inner.get("_type") == "encrypted":
            return [PointError("an encrypted message inside an encrypted message")]
        return from_owntracks(inner, person_id, received, key, identity)
    if kind != "location":
        return []
    try:
        flags: list[str] = []
        speed = number(message, "vel")
        extras = {k: v for k, v in message.items() if k in OWNTRACKS_KEPT}
        extras.update(identity)
        return [
            Point(
                person_id=person_id,
                t=_time(message.get("tst"), received, flags),
                lat=number(message, "lat", required=True) or 0.0,
                lon=number(message, "lon", required=True) or 0.0,
                accuracy_m=number(message, "acc"),
                speed_mps=_scaled(speed, KMH_TO_MPS),
                bearing_deg=number(message, "cog"),
                altitude_m=number(message, "alt"),
                battery_pct=number(message, "batt"),
                attributes=_attributes(extras),
                flags=flags,
            )
        ]
    except PointError as exc:
        return [exc]
