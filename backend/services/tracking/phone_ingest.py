"""Storing what a phone sent, in one round trip, without ever jamming its queue.

A phone request usually carries one point. The point, the last position, the alert mark,
the device's last contact and (once per audit window) the audit row are written by one
prepared autocommit statement, shared by the requests of the process that arrive while
its writers are busy (group commit, ``group_commit.py``; two writes at once, ``WRITERS``);
each answer goes back only once its point is durable. A late point of a day the
maintenance job may be closing is written alone, in a transaction that waits for the
day's lock a moment only (``trace_storage.closed_day_writes``). A point that cannot be
placed is not answered with an error — the apps would resend it for ever — but kept as a
refusal the administrators can read per device. Fake-GPS and SOS signals raise their
alerts here, where a reader looks.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DataError, IntegrityError

from backend.db import DEADLOCK, Database, Prepared, sqlstate
from backend.services.access.tokens import Principal
from backend.services.tracking import alert_rules, trace_storage
from backend.services.tracking.group_commit import GroupCommit
from backend.services.tracking.phone_protocols import Parsed
from backend.services.tracking.trace_points import FLAG_MOCK, Point, PointError, settle_phone_point
from backend.services.tracking.traces import move_sql, receipt, with_partitions
from backend.settings import Settings


# The rows of one or more requests, as arrays: one statement text whatever their number.
# Flags travel comma-joined (they are words without commas), as arrays cannot be ragged.
# psycopg2 sends a list as ARRAY[...] of the values' own type (text for strings, text
# for a list of NULLs); a prepared parameter takes text[] from any of them, and the
# explicit cast then reads it as the column's type.
def _column(name: str, sql_type: str) -> str:
    return f"CAST(CAST(:{name} AS text[]) AS {sql_type}[])"


_ROW_TYPES = (
    ("p", "bigint"), ("t", "timestamptz"), ("x", "float8"), ("y", "float8"), ("a", "float8"),
    ("s", "float8"), ("b", "float8"), ("h", "float8"), ("c", "float8"), ("j", "jsonb"),
    ("f", "text"), ("r", "timestamptz"), ("bb", "timestamptz"), ("src", "text"),
)  # fmt: skip
_ROW_PARAMS = tuple(name for name, _ in _ROW_TYPES)
_ROWS = f"""
    SELECT {", ".join("string_to_array(f, ',')" if n == "f" else n for n in _ROW_PARAMS)}
    FROM unnest({", ".join(_column(name, sql_type) for name, sql_type in _ROW_TYPES)})
         AS u({", ".join(_ROW_PARAMS)})
"""
# A device's uploads are audited once per window: one row per device due, if it stored.
_AUDIT_AND_TOUCH = f""", audited AS (
        INSERT INTO audit_log (actor, role, action, subject_person_id, request_id)
        SELECT a.actor, 'device', a.action, a.person, a.request_id
        FROM unnest({_column("a_actor", "text")}, {_column("a_action", "text")},
                    {_column("a_person", "bigint")}, {_column("a_request", "uuid")})
             AS a(actor, action, person, request_id)
        WHERE EXISTS (SELECT 1 FROM ins WHERE ins.person_id = a.person)
    ), touched AS (
        UPDATE api_tokens SET last_seen_at = now() WHERE id = ANY({_column("tokens", "bigint")})
    )"""
# The one point of a write alone, as plain values: the arrays' unnest and their casts
# cost PostgreSQL 0.04 of the statement's 0.13 ms of CPU (0.09 this way), and at a few
# phones per process most writes carry one point.
_ONE_ROW = "SELECT " + ", ".join(
    "string_to_array(CAST(:f AS text), ',')" if name == "f" else f"CAST(:{name} AS {sql_type})"
    for name, sql_type in _ROW_TYPES
)
# Most writes have no device due for its audit row or contact mark (once a minute each):
# without those two statements inside, PostgreSQL spends 0.03-0.06 ms less on each.
# Keyed by (one point, with the audit row and the contact mark).
_WRITES = {
    (one, marks): Prepared(
        move_sql(_ONE_ROW if one else _ROWS, _AUDIT_AND_TOUCH if marks else "", per_row=True)
    )
    for one in (False, True)
    for marks in (False, True)
}
_TOUCH_ONLY = text("UPDATE api_tokens SET last_seen_at = now() WHERE id = :token")
_REFUSE = text(
    """
    INSERT INTO trace_refusals (token_id, person_id, client, reason, raw)
    SELECT :token, :person, :client, reason, :raw FROM unnest(CAST(:reasons AS text[])) reason
    """
)


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
_GONE = "the device's person is no longer in the register"


@dataclass
class PhoneOutcome:
    stored: int = 0
    duplicates: int = 0
    heartbeats: int = 0
    refused: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)


@dataclass
class PhoneWrite:
    """One request's points, waiting to be written with the others arriving with it."""

    database: Database
    device: Principal
    points: list[Point]
    client: str
    request_id: str
    received_at: datetime
    audit: bool
    touch: bool
    settings: Settings


def _row(p: Point, stamps: dict[str, datetime], client: str) -> tuple[Any, ...]:
    attributes = json.dumps(p.attributes, ensure_ascii=False) if p.attributes else None
    return (
        p.person_id, p.t, p.lon, p.lat, p.accuracy_m, p.speed_mps, p.bearing_deg,
        p.altitude_m, p.battery_pct, attributes, ",".join(p.flags) if p.flags else None,
        stamps["received_at"], stamps["backfilled_before"], client,
    )  # fmt: skip


def _statement(writes: Sequence[PhoneWrite]) -> tuple[Prepared, dict[str, Any]]:
    """The statement for these writes and its values: one point's own, or an array per
    point field; when any device is due for them, a row per device audited and the
    devices marked in contact (else the statement without those parts)."""
    rows: list[tuple[Any, ...]] = []
    for w in writes:
        stamps = receipt(w.received_at, w.settings.trace_live_tolerance_s)
        rows.extend(_row(p, stamps, w.client) for p in w.points)
    audited = [w for w in writes if w.audit]
    touched = sorted({w.device.token_id for w in writes if w.touch})
    one = len(rows) == 1
    columns = zip(_ROW_PARAMS, rows[0] if one else map(list, zip(*rows, strict=True)), strict=True)
    params = {**dict(columns), "max_speed": writes[0].settings.trace_max_speed_mps}
    statement = _WRITES[one, bool(audited or touched)]
    if not audited and not touched:
        return statement, params
    params.update(
        a_actor=[w.device.actor for w in audited],
        a_action=[f"traces.ingest.{w.client}" for w in audited],
        a_person=[w.device.person_id for w in audited],
        a_request=[w.request_id for w in audited],
        tokens=touched,
    )
    return statement, params


def _write_together(writes: Sequence[PhoneWrite], closing: Sequence[date] = ()) -> list[int]:
    """Write the requests' points in one autocommit statement: how many each stored.

    A (person, time) sent twice in the group is stored once, counted for the first.
    The requests of one group share their database (``group_of``). A request written
    alone with points of days ``closing`` (being closed) waits for their lock a moment
    only (``trace_storage.bounded_wait``); a group never holds such a point.

    A write that lost a deadlock (two writes of resent points, in other orders) is run
    once more (``with_partitions``), when the other has ended: alone as in a group, the
    phone is answered, not told the database failed."""
    statement, params = _statement(writes)
    days = {p.t.date() for w in writes for p in w.points}
    with writes[0].database.autocommit.connect() as conn:
        rows = with_partitions(conn, days, lambda: statement.rows(conn, params), list(closing))
    new = {(person, at) for person, at in rows}
    counts = []
    for w in writes:
        mine = {(p.person_id, p.t) for p in w.points} & new
        new -= mine
        counts.append(len(mine))
    return counts


def _one_may_be_at_fault(exc: Exception) -> bool:
    """A shared write that failed on a row (a person gone, a value refused) or a deadlock
    with another write twice: written again request by request."""
    return isinstance(exc, IntegrityError | DataError) or sqlstate(exc) == DEADLOCK


# Writes of the process under way at once (``group_commit.py``): ``bench.phones`` at 4
# phones, 0.82-0.89 of ``/health`` with one and 0.98-0.99 with two; at 64, 1.25 and 1.12.
WRITERS = 2
_GROUPS: weakref.WeakKeyDictionary[Database, GroupCommit[PhoneWrite, int]] = (
    weakref.WeakKeyDictionary()
)
_GROUPS_LOCK = threading.Lock()


def group_of(database: Database) -> GroupCommit[PhoneWrite, int]:
    """The process's group commit for phone points on ``database`` (held weakly: the
    group's writer finds the database in the requests it writes)."""
    with _GROUPS_LOCK:
        group = _GROUPS.get(database)
        if group is None:
            group = GroupCommit(_write_together, splits=_one_may_be_at_fault, writers=WRITERS)
            _GROUPS[database] = group
        return group


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


def _closing(database: Database, points: list[Point]) -> list[date]:
    """The days of ``points`` the maintenance job may be closing (late points only: a
    live point's day is open, and a day seen compacted is remembered)."""
    days = {p.t.date() for p in points}
    if not trace_storage.closed_days(days):
        return []
    with database.autocommit.connect() as conn:
        return trace_storage.compacting_days(conn, days)


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
    if points:
        write = PhoneWrite(
            database,
            device,
            points,
            client,
            request_id,
            now,
            WINDOWS.due("audit", device.token_id, settings.device_audit_window_s),
            touch,
            settings,
        )
        try:
            closing = _closing(database, points)
            if closing:
                # Its day may be locked for its compaction: written alone, so that no
                # other phone waits with it (trace_storage.bounded_wait).
                outcome.stored = _write_together([write], closing)[0]
            else:
                outcome.stored = group_of(database).submit(write)
            outcome.duplicates = len(points) - outcome.stored
        except IntegrityError:  # the person behind the token is gone: nothing to touch
            WINDOWS.forget(device.token_id)
            outcome.refused.extend(_GONE for _ in points)
            points, touch = [], False
        except Exception:
            # Nothing was written (the database unreachable): the audit row and the
            # contact mark this write carried are due again with the phone's resend.
            WINDOWS.forget(device.token_id)
            raise
    if (touch and not points) or outcome.refused:
        with database.autocommit.connect() as conn:
            if touch and not points:
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
