"""GPSLogger for Android, in its "Log to custom URL" mode.

The app substitutes its placeholders into the URL, the HTTP body and the headers it is
given, then sends them with the HTTP method chosen (GET, or POST with a form or JSON
body); see its ``CustomUrlManager.getFormattedTextblock``. The values are written as
Java writes them: ``%LAT``/``%LON`` degrees, ``%TIME`` ISO 8601 in UTC
(``2026-12-04T10:15:30.123Z``), ``%TIMESTAMP`` epoch seconds, ``%ACC`` and ``%ALT``
metres, ``%SPD`` m/s, ``%DIR`` degrees, ``%BATT`` percent (``85.0``), ``%SAT`` satellites,
``%PROV`` the provider (``gps``, ``network``).

- Token: ``id`` in the URL or form (the set-up URL carries it), else the HTTP Basic
  password the app's authentication settings send, or a bearer token.
- Read: query and form fields, and the fields of a JSON object body, under the
  placeholders' lower-case names as the set-up URL writes them (``lat``, ``lon``,
  ``time`` or ``timestamp``, ``acc``, ``spd``, ``alt``, ``dir``, ``batt``…). A request
  without lat/lon is a heartbeat.
- Kept as attributes: satellites, provider, dilution of precision, activity, distance
  and the description. The Android ID and build serial the app can send are not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backend.services.tracking.phone_apps.base import (
    PhoneApp,
    PhoneReading,
    PhoneRequest,
    SetupLink,
)
from backend.services.tracking.phone_apps.osmand import json_body, text_field_of_unread
from backend.services.tracking.phone_apps.owntracks import token_of
from backend.services.tracking.phone_protocols import Parsed, _attributes, _time
from backend.services.tracking.trace_points import Point, PointError, number

PATH = "/api/v1/traces/gpslogger"
# The fields read into the point itself, and those dropped as device identifiers or
# session bookkeeping; the rest are kept as attributes (bounded).
READ = frozenset({"lat", "lon", "time", "timestamp", "acc", "spd", "alt", "dir", "batt"})
DROPPED = frozenset(
    {"id", "aid", "ser", "profile", "filename", "starttimestamp", "date", "timeoffset"}
)
# The Custom URL's query, written with GPSLogger's own placeholders.
PLACEHOLDERS = (
    ("lat", "%LAT"),
    ("lon", "%LON"),
    ("time", "%TIME"),
    ("acc", "%ACC"),
    ("spd", "%SPD"),
    ("alt", "%ALT"),
    ("dir", "%DIR"),
    ("batt", "%BATT"),
    ("sat", "%SAT"),
    ("prov", "%PROV"),
)


def from_gpslogger(fields: Mapping[str, Any], person_id: int, received: datetime) -> Parsed:
    """One point of a GPSLogger request; None when it carries no fix."""
    try:
        if fields.get("lat") in (None, "") and fields.get("lon") in (None, ""):
            return None
        flags: list[str] = []
        when = fields.get("time")
        t = _time(when if when not in (None, "") else fields.get("timestamp"), received, flags)
        extras = {k: v for k, v in fields.items() if k not in READ and k not in DROPPED}
        return Point(
            person_id=person_id,
            t=t,
            lat=number(fields, "lat", required=True) or 0.0,
            lon=number(fields, "lon", required=True) or 0.0,
            accuracy_m=number(fields, "acc"),
            speed_mps=number(fields, "spd"),
            bearing_deg=number(fields, "dir"),
            altitude_m=number(fields, "alt"),
            battery_pct=number(fields, "batt"),
            attributes=_attributes(extras),
            flags=flags,
        )
    except PointError as exc:
        return exc


def _fields(req: PhoneRequest) -> dict[str, Any] | PointError:
    fields: dict[str, Any] = {k.lower(): v for k, v in req.values.items()}
    if req.mimetype == "application/json" and req.body.strip():
        body, parsed_ok = json_body(req.body)
        if not parsed_ok or not isinstance(body, dict):
            return PointError("the body is not a JSON object")
        fields.update({str(k).lower(): v for k, v in body.items()})
    return fields


def read(req: PhoneRequest) -> PhoneReading:
    fields = _fields(req)
    secret = req.values.get("id") or token_of(req.headers)
    if isinstance(fields, PointError):
        secret = secret or text_field_of_unread(req.body, "id")
        error = fields
        return PhoneReading(secret, "gpslogger", lambda _p, _r, _k: [error])
    if isinstance(fields.get("id"), str) and not secret:
        secret = fields["id"]
    return PhoneReading(
        secret,
        "gpslogger",
        lambda person, received, _key: [from_gpslogger(fields, person, received)],
    )


def custom_url(public_url: str, token: str) -> str:
    """The URL to paste into GPSLogger's Custom URL setting, with the app's placeholders."""
    query = "&".join(f"{name}={placeholder}" for name, placeholder in PLACEHOLDERS)
    return f"{public_url.rstrip('/')}{PATH}?id={token}&{query}"


def setup(public_url: str, token: str, _person_id: int, _key: str | None) -> tuple[SetupLink, ...]:
    return (
        SetupLink(
            "gpslogger",
            "GPSLogger (Log to custom URL, HTTP method GET or POST)",
            custom_url(public_url, token),
            as_qr=False,
        ),
    )


APP = PhoneApp(
    name="gpslogger",
    title="GPSLogger for Android",
    path=PATH,
    methods=("GET", "POST"),
    summary="GPSLogger for Android (custom URL); a known device always gets 200",
    description="GPSLogger's Custom URL mode, GET or POST (form or JSON body), with the "
    "app's placeholders substituted: `lat`, `lon`, `time` (ISO 8601 UTC) or `timestamp` "
    "(epoch seconds), `acc` and `alt` in metres, `spd` in m/s, `dir` in degrees, `batt` in "
    "percent. The device token travels in `id` (or as the HTTP Basic password). A known "
    "device is always answered 200; refusals are recorded. A request without lat/lon is a "
    "heartbeat. `qonys device enrol` prints the URL to paste.",
    read=read,
    setup=setup,
)
