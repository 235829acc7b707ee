"""The shape of a phone app's entry in the registry (``phone_apps.APPS``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.services.tracking.phone_protocols import Parsed


@dataclass(frozen=True)
class PhoneRequest:
    """What a phone sent, as plain data: method, content type, query and form fields,
    headers (lower-case names) and the raw body."""

    method: str
    mimetype: str
    args: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def values(self) -> dict[str, str]:
        """Query and form fields together (the form wins), as the apps mix them."""
        return {**self.args, **self.form}


# Parses one request for a known device: (person id, time received, the device's
# OwnTracks key when the app asked for it) -> the points, heartbeats and refusals.
Parser = Callable[[int, datetime, str | None], list[Parsed]]


@dataclass(frozen=True)
class PhoneReading:
    """A request read by its app: the token it carried, the client name stored with each
    point, and how to parse it once the token is known to be a device's."""

    secret: str | None
    client: str
    parse: Parser
    needs_key: bool = False  # an encrypted OwnTracks message: the device key is read


@dataclass(frozen=True)
class SetupLink:
    """How a phone is set up for this app at enrolment: a configuration link to scan as a
    QR code, or a URL to paste into the app's settings."""

    app: str
    label: str
    value: str
    as_qr: bool


@dataclass(frozen=True)
class PhoneApp:
    name: str
    title: str
    path: str
    methods: tuple[str, ...]
    summary: str
    description: str
    read: Callable[[PhoneRequest], PhoneReading]
    setup: Callable[[str, str, int, str | None], tuple[SetupLink, ...]]
    # The app's answer to a known device: its status, body and content type.
    answer: tuple[int, str, str] = (200, "", "text/plain")
    # Phones never get the API's 429: they are counted per device and, over their
    # limit, answered 2xx with the overflow recorded (their apps retry for ever).
    api_rate_limited: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
