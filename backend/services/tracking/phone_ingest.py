"""Storing what a phone sent, in one round trip, without ever jamming its queue.

A phone request usually carries one point. The point, the last position, the alert mark,
the device's last contact and (once per audit window) the audit row are written by one
autocommit statement, so the answer goes back after one database round trip and only
once the point is durable. A point that cannot be placed is not answered with an error
— the apps would resend it for ever — but kept as a refusal the administrators can read
per device. Fake-GPS and SOS signals raise their alerts here, where a reader looks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from backend.db import Database
from backend.services.access.tokens import Principal
from backend.services.tracking import alert_rules
from backend.services.tracking.phone_protocols import Parsed
from backend.services.tracking.trace_points import FLAG_MOCK, Point, PointError, settle_phone_point
from backend.services.tracking.traces import move_sql, receipt, with_partitions
from backend.settings import Settings

_ROW = (
    "(CAST(:p{i} AS bigint), CAST(:t{i} AS timestamptz), CAST(:x{i} AS float8), "
    "CAST(:y{i} AS float8), CAST(:a{i} AS float8), CAST(:s{i} AS float8), "
    "CAST(:b{i} AS float8), CAST(:h{i} AS float8), CAST(:c{i} AS float8), "
    "CAST(:j{i} AS jsonb), CAST(:f{i} AS text[]))"
)
_AUDIT = """, audited AS (
        INSERT INTO audit_log (actor, role, action, subject_person_id, request_id)
        SELECT :actor, 'device', :action, :person, CAST(:request_id AS uuid)
        WHERE EXISTS (SELECT 1 FROM ins)
    )"""
_TOUCH = """, touched AS (
        UPDATE api_tokens SET last_seen_at = now() WHERE id = :token
    )"""
_TOUCH_ONLY = text("UPDATE api_tokens SET last_seen_at = now() WHERE id = :token")
_REFUSE = text(
    """
    INSERT INTO trace_refusals (token_id, person_id, client, reason, raw)
    SELECT :token, :person, :client, reason, :raw FROM unnest(CAST(:reasons AS text[])) reason
    """
)
_statements: dict[tuple[int, bool, bool], Any] = {}


def _statement(rows: int, audit: bool, touch: bool) -> Any:
    key = (rows, audit, touch)
    if key not in _statements:
        values = ", ".join(_ROW.format(i=i) for i in range(rows))
        extra = (_AUDIT if audit else "") + (_TOUCH if touch else "")
        _statements[key] = text(move_sql(f"VALUES {values}", extra))
    return _statements[key]


class DeviceWindows:
    """Per process: when each device was last audited and last marked as in contact.

    Device uploads are audited once per window per device (the audit row stands for the
    window's uploads), and the last-contact time that *silent device* reads is written
    at most once per window: silence is measured in working days.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()

    def due(self, what: str, token_id: int, window_s: float) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get((what, token_id))
            if last is not None and now - last < window_s:
                return False
            self._last[(what, token_id)] = now
            return True

    def clear(self) -> None:
        with self._lock:
            self._last.clear()

    def forget(self, token_id: int) -> None:
        with self._lock:
            for key in [k for k in self._last if k[1] == token_id]:
                del self._last[key]


WINDOWS = DeviceWindows()


@dataclass
class PhoneOutcome:
    stored: int = 0
    duplicates: int = 0
    heartbeats: int = 0
    refused: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)


def _params(points: list[Point]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, p in enumerate(points):
        params.update(
            {
                f"p{i}": p.person_id,
                f"t{i}": p.t,
                f"x{i}": p.lon,
                f"y{i}": p.lat,
                f"a{i}": p.accuracy_m,
                f"s{i}": p.speed_mps,
                f"b{i}": p.bearing_deg,
                f"h{i}": p.altitude_m,
                f"c{i}": p.battery_pct,
                f"j{i}": json.dumps(p.attributes, ensure_ascii=False) if p.attributes else None,
                f"f{i}": p.flags or None,
            }
        )
    return params


def record_refusals(
    conn: Connection, device: Principal, client: str, reasons: list[str], raw: str, limit: int
) -> None:
    """Keep refused input with its reason, client and a bounded copy of what was sent."""
    if reasons:
        conn.execute(
            _REFUSE,
            {
                "token": device.token_id,
                "person": device.person_id,
                "client": client,
                "reasons": [r[:500] for r in reasons],
                "raw": raw[:limit],
            },
        )


def _signals(points: list[Point]) -> list[tuple[str, Point]]:
    found: list[tuple[str, Point]] = []
    for p in points:
        alarm = (p.attributes or {}).get("alarm")
        if isinstance(alarm, str) and alarm.lower() == "sos":
            found.append(("sos", p))
        if FLAG_MOCK in p.flags:
            found.append(("mock_location", p))
    return found


def ingest_phone(
    database: Database,
    device: Principal,
    parsed: list[Parsed],
    client: str,
    settings: Settings,
    request_id: str,
    raw: Callable[[], str],
    now: datetime | None = None,
) -> PhoneOutcome:
    """Store a phone request's points; refusals are recorded, never raised.

    ``raw`` gives the request as sent (token cut out); it is only built for a refusal.
    """
    assert device.person_id is not None
    now = now or datetime.now(UTC)
    outcome = PhoneOutcome()
    points: list[Point] = []
    for item in parsed:
        if item is None:
            outcome.heartbeats += 1
        elif isinstance(item, PointError):
            outcome.refused.append(str(item))
        else:
            try:
                settle_phone_point(item, now, settings)
                points.append(item)
            except PointError as exc:
                outcome.refused.append(str(exc))
    touch = WINDOWS.due("contact", device.token_id, settings.device_contact_window_s)
    with database.autocommit.connect() as conn:
        if points:
            try:
                outcome.stored = _store(
                    conn, device, points, client, settings, request_id, touch, now
                )
                outcome.duplicates = len(points) - outcome.stored
            except PointError as exc:
                outcome.refused.extend(str(exc) for _ in points)
                points = []
        elif touch:
            conn.execute(_TOUCH_ONLY, {"token": device.token_id})
        if outcome.refused:
            record_refusals(
                conn, device, client, outcome.refused, raw(), settings.refusal_raw_max_chars
            )
    signals = _signals(points)
    if signals:
        with database.transaction() as session:
            for kind, point in signals:
                alert_rules.raise_device_signal(
                    session, point.person_id, kind, point.t, point.lat, point.lon, client
                )
        outcome.signals = [kind for kind, _ in signals]
    return outcome


def _store(
    conn: Connection,
    device: Principal,
    points: list[Point],
    client: str,
    settings: Settings,
    request_id: str,
    touch: bool,
    now: datetime,
) -> int:
    audit = WINDOWS.due("audit", device.token_id, settings.device_audit_window_s)
    params = _params(points)
    params.update(
        source=client,
        token=device.token_id,
        actor=device.actor,
        person=device.person_id,
        action=f"traces.ingest.{client}",
        request_id=request_id,
        max_speed=settings.trace_max_speed_mps,
        **receipt(now, settings.trace_live_tolerance_s),
    )

    def write() -> int:
        return int(conn.execute(_statement(len(points), audit, touch), params).scalar_one())

    try:
        return int(with_partitions(conn.engine, {p.t.date() for p in points}, write))
    except IntegrityError as exc:  # the person behind the token is gone
        WINDOWS.forget(device.token_id)
        raise PointError("the device's person is no longer in the register") from exc
