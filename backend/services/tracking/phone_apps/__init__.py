"""The phone apps Qonys takes traces from: one module per app, one registry of them.

Each app module declares a :class:`PhoneApp`: the path it posts to and with which
methods, how it carries the device token, how its requests are parsed (and in which
units), the links or QR codes that set a phone up at enrolment, and what its answer
looks like. The routes (``api/traces.py``, and ``api/phone_lane.py`` beside Flask), the
rate limiter (``api/limits.py``), the NUL rule's exemption (``api/input_guard.py``),
enrolment (``services/tracking/devices.py``), the OpenAPI document and the tests read
:data:`APPS`; adding an app is one module here and its line in :data:`APPS`.

A phone request reaches a parser as plain data (:class:`PhoneRequest`), never as a Flask
request: the app modules stay below the web layer.
"""

from __future__ import annotations

from backend.services.tracking.phone_apps import gpslogger, osmand, owntracks
from backend.services.tracking.phone_apps.base import (
    PhoneApp,
    PhoneReading,
    PhoneRequest,
    SetupLink,
)

__all__ = ["APPS", "BY_NAME", "PhoneApp", "PhoneReading", "PhoneRequest", "SetupLink"]

APPS: tuple[PhoneApp, ...] = (osmand.APP, owntracks.APP, gpslogger.APP)
BY_NAME: dict[str, PhoneApp] = {app.name: app for app in APPS}


def unlimited_paths() -> tuple[str, ...]:
    """The paths the API's rate limit leaves alone (phones are counted per device)."""
    return tuple(app.path for app in APPS if not app.api_rate_limited)


def setup_links(
    public_url: str, token: str, person_id: int, key: str | None
) -> tuple[SetupLink, ...]:
    """Every app's set-up links for one enrolled phone."""
    return tuple(link for app in APPS for link in app.setup(public_url, token, person_id, key))
