"""Traccar Client and OsmAnd: the OsmAnd protocol (query string or form fields) and
Traccar Client 9.x's JSON body, on one path.

- Token: ``id`` (or ``deviceid``) in the query or form; ``device_id`` in the JSON body.
- Units: Traccar Client sends ``speed`` in knots and ``accuracy`` in metres; OsmAnd's
  template has no ``accuracy`` (its ``hdop`` is the accuracy in metres) and its speed is
  in m/s; Traccar Client 9.x JSON has speed in m/s. The parsers are in
  ``services/tracking/phone_protocols.py``.
- Set-up: Traccar Client's ``org.traccar.client://`` configuration link (a QR code), and
  the URL template to paste into OsmAnd's online tracking.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from backend.services.tracking import phone_protocols as protocols
from backend.services.tracking.phone_apps.base import (
    PhoneApp,
    PhoneReading,
    PhoneRequest,
    SetupLink,
)
from backend.services.tracking.trace_points import PointError

PATH = "/api/v1/traces/osmand"
# Traccar Client settings in its configuration link: report every 10 minutes.
TRACCAR_INTERVAL_S = 600

DESCRIPTION = """Traccar Client and OsmAnd (query string or form), and Traccar Client 9.x JSON.

The device token travels in `id` (or `deviceid`; `device_id` in Traccar Client's JSON
body). A known device is always answered 200, even when a point is refused: the apps
retry a refused point for ever. Refusals are kept for administrators
(`GET /api/v1/devices/{token_id}/refusals`). Unknown or revoked token: 401.

Units: Traccar Client sends `speed` in knots and `accuracy` in metres. OsmAnd's template
(`...?id=TOKEN&lat={0}&lon={1}&timestamp={2}&hdop={3}&altitude={4}&speed={5}&bearing={6}`)
has no `accuracy`; its `hdop` is the accuracy in metres and its speed is in m/s — `hdop`
without `accuracy` marks an OsmAnd request. A request without lat/lon is a heartbeat.
"""


def json_body(body: bytes) -> tuple[Any, bool]:
    """The parsed JSON body and whether it parsed (deep nesting does not crash us)."""
    try:
        return json.loads(body or b"null"), True
    except (ValueError, RecursionError):
        return None, False


# A text field of a body that is not a JSON object the parser can read (a number of
# 4,300+ digits, nesting a thousand deep, a list): the device's token is still found,
# and the device told 200 with its point refused, not 401 (it would re-enrol, or stop
# sending). The first ``"name": "..."`` anywhere in the body is taken, at any depth:
# it is only a token to look up, which must still be a device's.
def text_field_of_unread(body: bytes, name: str) -> str | None:
    """The text the first ``name`` holds in a body the JSON parser did not read as an
    object, if one can be found (case as sent)."""
    found = re.search(
        rb'"' + re.escape(name.encode()) + rb'"\s*:\s*("(?:[^"\\]|\\.){1,512}")', body
    )
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def read(req: PhoneRequest) -> PhoneReading:
    params = {**req.form, **req.args}  # the query wins, as Flask's request.values
    if req.mimetype == "application/json":
        root, parsed_ok = json_body(req.body)
        secret = protocols.traccar_json_device_id(root) or params.get("id")
        if not parsed_ok and secret is None:
            secret = text_field_of_unread(req.body, "device_id")

        def parse_json(person: int, received: Any, _key: str | None) -> list[Any]:
            if parsed_ok and isinstance(root, dict):
                return protocols.from_traccar_json(root, person, received)
            return [PointError("the body is not a Traccar Client JSON object")]

        return PhoneReading(secret, "traccar_json", parse_json)
    client = "osmand" if protocols.is_osmand_app(params) else "traccar"
    return PhoneReading(
        params.get("id") or params.get("deviceid"),
        client,
        lambda person, received, _key: [protocols.from_osmand_params(params, person, received)],
    )


def osmand_template(public_url: str, token: str) -> str:
    """The URL to paste into OsmAnd's online tracking (its placeholders, not ours)."""
    return (
        f"{public_url.rstrip('/')}{PATH}?id={token}&lat={{0}}&lon={{1}}"
        "&timestamp={2}&hdop={3}&altitude={4}&speed={5}&bearing={6}"
    )


def traccar_uri(public_url: str, token: str) -> str:
    """Traccar Client's configuration link (server URL, device identifier, interval)."""
    query = urlencode(
        {
            "url": public_url.rstrip("/") + PATH,
            "id": token,
            "interval": TRACCAR_INTERVAL_S,
            "accuracy": "high",
            "service": "true",
        }
    )
    return f"org.traccar.client://config?{query}"


def setup(public_url: str, token: str, _person_id: int, _key: str | None) -> tuple[SetupLink, ...]:
    return (
        SetupLink("traccar", "Traccar Client", traccar_uri(public_url, token), as_qr=True),
        SetupLink("osmand", "OsmAnd", osmand_template(public_url, token), as_qr=False),
    )


APP = PhoneApp(
    name="osmand",
    title="Traccar Client / OsmAnd",
    path=PATH,
    methods=("GET", "POST"),
    summary="Traccar Client / OsmAnd protocol; a known device always gets 200",
    description=DESCRIPTION,
    read=read,
    setup=setup,
)
