"""Ingesting movement traces: validate each point, store each (person, time) once.

A device's batch whose every point is clean (the common case: a phone uploading its
backlog) is checked whole by msgspec as it is read, and PostgreSQL reads its points
from an array per field (:func:`ingest_clean`): no point is built in Python. Any other
batch is validated point by point in plain Python, the good points are COPYed into a
per-connection staging table, and bad points are reported with their index and reason;
the good ones in the same batch are kept. Either way one set-based statement moves the
points into the partitioned ``trace_points``, keeps the last position and marks the
persons for alert evaluation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from backend.db import (
    DEADLOCK,
    STALE_PLAN,
    Database,
    Prepared,
    on_driver_cursor,
    sqlstate,
    stale_plan,
    usable,
)
from backend.errors import DayClosing, NotFound
from backend.models import Person
from backend.services.access import audit
from backend.services.tracking import trace_storage
from backend.services.tracking.trace_points import (
    CLEAN_FIELDS,
    FLAG_BACKFILLED,
    FLAG_IMPLAUSIBLE_JUMP,
    FLAG_POOR_ACCURACY,
    JUMP_MARGIN_M,
    Point,
    PointError,
    accepted_window,
    check_point,
    clean_batch,
    fast_batch_point,
)
from backend.settings import Settings

_NO_PARTITION = "23514"  # no partition of trace_points takes the row
_NO_PERSON = "23503"  # a foreign key to persons: the person is gone
_UNKNOWN_PERSON = "person_id is unknown"
_DEADLOCK_OR_STALE = (DEADLOCK, *STALE_PLAN)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    persons: set[int] = field(default_factory=set)


_COLUMNS = (
    "person_id, recorded_at, lon, lat, accuracy_m, speed_mps, bearing_deg, altitude_m, "
    "battery_pct, attributes, flags"
)
_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS trace_stage (
    person_id bigint, recorded_at timestamptz, lon float8, lat float8, accuracy_m float8,
    speed_mps float8, bearing_deg float8, altitude_m float8, battery_pct float8,
    attributes jsonb, flags text[]
) ON COMMIT DELETE ROWS
"""


def move_sql(source_rows: str, extra: str = "", per_row: bool = False, replays: bool = True) -> str:
    """One statement: insert new points, keep the last position, mark persons dirty.

    ``source_rows`` is the staging table (batches) or the rows of phone requests;
    ``extra`` adds CTEs that must happen in the same statement (audit, last contact).
    ``per_row``: the rows carry their own ``received_at``, ``backfilled_before`` and
    ``source`` (several requests written together) and the statement returns the
    (person, time) of each point stored; else these are parameters and it returns the
    count stored. ``replays=False``: no ``ON CONFLICT`` (a third faster on a batch of
    fresh points), for a caller that runs the statement again with it on a unique
    violation.
    """
    if per_row:
        given = f"{_COLUMNS}, received_at, backfilled_before, source"
        carry, carry_g = ", received_at, source", ", g.received_at, g.source"
        before = "backfilled_before"
        received, source, result = "received_at", "source", "person_id, recorded_at"
    else:
        given, carry, carry_g, result = _COLUMNS, "", "", "count(*)"
        before = "CAST(:backfilled_before AS timestamptz)"
        received, source = "CAST(:received_at AS timestamptz)", ":source"
    return f"""
    WITH given ({given}) AS ({source_rows}), marked AS (
        -- A fix whose device time is older than the server's receive time by more than
        -- the live tolerance arrived late: ``backfilled`` (see alert_evidence).
        SELECT person_id, recorded_at, lon, lat, accuracy_m, speed_mps, bearing_deg,
               altitude_m, battery_pct, attributes{carry},
               CASE WHEN recorded_at < {before}
                    THEN array_append(coalesce(flags, '{{}}'), '{FLAG_BACKFILLED}')
                    ELSE flags END AS flags
        FROM given
    ), src AS (
        -- A fix farther from the person's last plausible position than they could have
        -- moved since (at :max_speed, with a margin for GPS error) is flagged: it opens
        -- and closes no region alert, and does not become the last position.
        SELECT g.person_id, g.recorded_at, g.lon, g.lat, g.accuracy_m, g.speed_mps,
               g.bearing_deg, g.altitude_m, g.battery_pct, g.attributes{carry_g},
               CASE WHEN l.recorded_at < g.recorded_at
                     AND ST_DistanceSphere(l.geom, ST_SetSRID(ST_MakePoint(g.lon, g.lat), 4326))
                         > CAST(:max_speed AS float8)
                           * extract(epoch FROM g.recorded_at - l.recorded_at)
                           + {JUMP_MARGIN_M} + coalesce(g.accuracy_m, 0)
                           + coalesce(l.accuracy_m, 0)
                    THEN array_append(coalesce(g.flags, '{{}}'), '{FLAG_IMPLAUSIBLE_JUMP}')
                    ELSE g.flags END
        FROM marked g LEFT JOIN trace_last_positions l ON l.person_id = g.person_id
    ), ins AS (
        INSERT INTO trace_points (person_id, recorded_at, received_at, geom, accuracy_m,
                                  speed_mps, bearing_deg, altitude_m, battery_pct, source,
                                  attributes, flags)
        SELECT person_id, recorded_at, {received},
               ST_SetSRID(ST_MakePoint(lon, lat), 4326), accuracy_m,
               speed_mps, bearing_deg, altitude_m, battery_pct, {source}, attributes, flags
        FROM src
        {"ON CONFLICT DO NOTHING" if replays else ""}
        RETURNING person_id, recorded_at, geom, accuracy_m, flags
    ), newest AS (
        INSERT INTO trace_last_positions (person_id, recorded_at, geom, accuracy_m)
        SELECT DISTINCT ON (person_id) person_id, recorded_at, geom, accuracy_m
        FROM ins WHERE flags IS NULL OR NOT '{FLAG_IMPLAUSIBLE_JUMP}' = ANY(flags)
        ORDER BY person_id, recorded_at DESC
        ON CONFLICT (person_id) DO UPDATE SET recorded_at = EXCLUDED.recorded_at,
            geom = EXCLUDED.geom, accuracy_m = EXCLUDED.accuracy_m
        WHERE EXCLUDED.recorded_at > trace_last_positions.recorded_at
    ), dirty AS (
        INSERT INTO alert_dirty (person_id, marked_at)
        -- In person order: two statements marking the same persons lock them alike.
        SELECT person_id, clock_timestamp()
        FROM (SELECT DISTINCT person_id FROM ins ORDER BY person_id) d
        ON CONFLICT (person_id) DO UPDATE SET marked_at = EXCLUDED.marked_at
    ){extra}
    SELECT {result} FROM ins
    """


_MOVE = text(move_sql(f"SELECT {_COLUMNS} FROM trace_stage"))
_MOVE_FRESH = text(move_sql(f"SELECT {_COLUMNS} FROM trace_stage", replays=False))
# A device's clean batch (trace_points.clean_batch), read by PostgreSQL from an array
# per field: no staging table, no point built in Python. The one flag a clean point can
# carry is set as _flag_accuracy sets it.
_CLEAN_ARRAYS = ", ".join(
    f"CAST(:{name} AS {'timestamptz' if name == 't' else 'float8'}[])" for name in CLEAN_FIELDS
)
_CLEAN_ROWS = f"""
    SELECT CAST(:person AS bigint), x.t, x.lon, x.lat, x.accuracy_m, x.speed_mps,
           x.bearing_deg, x.altitude_m, x.battery_pct, CAST(NULL AS jsonb),
           CASE WHEN x.accuracy_m > CAST(:poor_accuracy AS float8)
                THEN ARRAY['{FLAG_POOR_ACCURACY}'] END
    FROM unnest({_CLEAN_ARRAYS}) AS x ({", ".join(CLEAN_FIELDS)})
"""
# Its audit row, in the same statement: the batch is written in autocommit, one
# statement storing both or neither (no BEGIN, SAVEPOINT or COMMIT round trips).
_AUDITED = f", audited AS ({audit.ROW_INSERT})"
# Prepared: planning the statement cost PostgreSQL 0.4 ms a batch.
_MOVE_CLEAN = Prepared(move_sql(_CLEAN_ROWS, _AUDITED))
_MOVE_CLEAN_FRESH = Prepared(move_sql(_CLEAN_ROWS, _AUDITED, replays=False))
# Whether the batch's person is still in the register (prepared, off the driver's cursor:
# SQLAlchemy compiled the ORM select anew for every batch).
_PERSON_KNOWN = Prepared("SELECT 1 FROM persons WHERE id = CAST(:person AS bigint)")
_UNIQUE_VIOLATION = "23505"


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _flags_literal(flags: list[str]) -> str | None:
    return "{" + ",".join(flags) + "}" if flags else None


def with_partitions(
    conn: Connection, days: set[date], write: Any, closing: list[date] | None = None
) -> Any:
    """Run ``write()`` on ``conn`` with the day partitions in place; a lock on a day being
    closed waited for a moment only (``bounded_wait``). ``closing``: those of ``days``
    already found being closed (``[]`` for the phones' shared write, which takes none);
    None: asked here (``compacting_days``).

    Run once more, each for one reason at most (:func:`_again`), unless the error ended
    a caller's transaction: a partition that vanished, made again; a prepared plan gone
    stale inside a transaction of its own; a deadlock lost to another write of the same
    points in another order (a batch resent while its first copy still runs). The run
    again waits for that write to end; should the caller's transaction, before the
    savepoint the write runs in, hold what the other waits for, it loses again and the
    error is the caller's."""
    trace_storage.ensure_partitions_for(conn.engine, days)
    if closing is None:
        closing = trace_storage.compacting_days(conn, days)
    tried: set[str] = set()
    while True:
        try:
            with trace_storage.bounded_wait(conn, closing):
                return write()
        except DayClosing:
            # The short wait covers every lock of the write: a row another write of the
            # same points holds (a batch resent while its first copy runs) also ran it
            # out. When no one holds the day itself, the write waits as any other does.
            if "row lock" in tried or trace_storage.being_locked(conn, closing) is not False:
                raise
            tried.add("row lock")
            closing = []
        except DBAPIError as exc:
            reason = _again(conn, exc)
            if reason is None or reason in tried:
                raise
            tried.add(reason)
            if reason == "partition":
                trace_storage.forget_known_partitions()
                trace_storage.ensure_partitions_for(conn.engine, days)


def _again(conn: Connection, exc: DBAPIError) -> str | None:
    """Why a write that raised ``exc`` may run once more on ``conn``; None: it may not
    (a connection lost mid-write is an outage, and is not asked anything: after a lost
    COMMIT it only says so again)."""
    code = sqlstate(exc)
    partition = isinstance(exc, IntegrityError) and code == _NO_PARTITION
    if not partition and code not in _DEADLOCK_OR_STALE:
        return None
    dbapi = conn.connection.dbapi_connection
    if not usable(dbapi):
        return None  # a caller's transaction the error has ended
    if partition:
        # A partition this process believed in was dropped or never made (e.g. after a
        # restore): the cache forgotten, what is missing made.
        return "partition"
    if stale_plan(exc):
        # A prepared statement planned before a migration, met inside the transaction a
        # write of a day being closed runs in (closed_day_writes): it cannot be planned
        # again there, as it is in autocommit; it is, once that has ended.
        return "plan" if dbapi.autocommit else None
    return "deadlock"  # in autocommit, its own block or a savepoint: rolled back


def receipt(received_at: datetime | None, live_tolerance_s: float) -> dict[str, datetime]:
    """The statement's receive-time parameters: when the server got the points, and the
    device time before which a point counts as ``backfilled``."""
    received_at = received_at or datetime.now(UTC)
    return {
        "received_at": received_at,
        "backfilled_before": received_at - timedelta(seconds=live_tolerance_s),
    }


def store_points(
    session: Session,
    points: list[Point],
    source: str,
    max_speed_mps: float,
    received_at: datetime | None = None,
    live_tolerance_s: float = Settings.trace_live_tolerance_s,
) -> int:
    """Write valid points in one COPY and one statement; returns how many were new.

    ``received_at`` is the server's receive time (now unless a caller replays one).
    """
    if not points:
        return 0
    params = {"source": source, "max_speed": max_speed_mps}
    params.update(receipt(received_at, live_tolerance_s))

    _stage(session, points)
    return _move(session, _MOVE_FRESH, _MOVE, params, {p.t.date() for p in points})


def _move(
    session: Session, fresh: Any, replays: Any, params: dict[str, Any], days: set[date]
) -> int:
    """Move the staged points in, in a savepoint; how many were new."""

    def move(statement: Any) -> int:
        def write() -> int:
            with session.begin_nested():
                return int(session.execute(statement, params).scalar_one())

        return int(with_partitions(session.connection(), days, write))

    return fresh_then_replays(move, fresh, replays)


def fresh_then_replays(move: Callable[[Any], int], fresh: Any, replays: Any) -> int:
    """``move(fresh)``, else ``move(replays)`` when it met points already stored.

    Most batches are new points: inserted without ON CONFLICT's per-row speculation
    (EXPLAIN ANALYZE, 1,000 points: 7 ms against 11.5 ms). A replay, whole or in part,
    meets the unique index (nothing of the first statement stays) and is moved again
    with it, counting only what is new.
    """
    try:
        return move(fresh)
    except IntegrityError as exc:
        if sqlstate(exc) != _UNIQUE_VIOLATION:
            raise
    return move(replays)


def _stage(session: Session, points: list[Point]) -> None:
    """COPY the points into this connection's staging table (once per call: a write
    retried after a savepoint finds them there)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for p in points:
        writer.writerow(
            (
                p.person_id,
                p.t.isoformat(),  # as Python read it: PostgreSQL reads no other form
                p.lon,
                p.lat,
                _csv_value(p.accuracy_m),
                _csv_value(p.speed_mps),
                _csv_value(p.bearing_deg),
                _csv_value(p.altitude_m),
                _csv_value(p.battery_pct),
                _csv_value(p.attributes),
                _csv_value(_flags_literal(p.flags)),
            )
        )
    buf.seek(0)
    connection = session.connection()
    # Always "IF NOT EXISTS": a rolled-back transaction also rolls back the temp table.
    connection.execute(text(_STAGE_DDL))
    # Through on_driver_cursor: watched as any statement (backend/statement_watch.py).
    copy = "COPY trace_stage FROM STDIN WITH (FORMAT csv)"
    on_driver_cursor(connection, lambda cursor: cursor.copy_expert(copy, buf), copy, {})


def ingest(
    session: Session,
    raws: Iterable[Any],
    build: Any,
    source: str,
    settings: Settings,
    now: datetime | None = None,
    device_person: int | None = None,
) -> IngestResult:
    """Validate every raw point with ``build(raw) -> Point`` and store the good ones.

    With ``device_person`` (our batch format from a device) clean points take the
    inline fast path first. (A batch whose every point is clean takes
    :func:`ingest_clean` before any of this.)
    """
    now = now or datetime.now(UTC)
    earliest, latest = accepted_window(now, settings)
    result = IngestResult()
    good: list[tuple[int, Point]] = []
    for index, raw in enumerate(raws):
        point = None
        if device_person is not None:
            point = fast_batch_point(raw, device_person, earliest, latest, settings)
        if point is None:
            try:
                point = build(raw)
                check_point(point, now, settings)
            except PointError as exc:
                result.rejected.append({"index": index, "reason": str(exc)})
                continue
        good.append((index, point))
    for attempt in (1, 2):
        good = _of_known_persons(session, good, result)
        try:
            result.accepted = store_points(
                session,
                [p for _, p in good],
                source,
                settings.trace_max_speed_mps,
                received_at=now,
                live_tolerance_s=settings.trace_live_tolerance_s,
            )
            break
        except IntegrityError as exc:
            # A person deleted (merged, erased) since they were looked up: asked again,
            # their points told so, the others stored.
            if sqlstate(exc) != _NO_PERSON or attempt == 2:
                raise
            session.execute(text("DELETE FROM trace_stage"))
    result.persons = {p.person_id for _, p in good}
    result.duplicates = len(good) - result.accepted
    result.rejected.sort(key=lambda r: r["index"])
    return result


def _of_known_persons(
    session: Session, good: list[tuple[int, Point]], result: IngestResult
) -> list[tuple[int, Point]]:
    """The points of persons in the register; the others rejected in ``result``."""
    persons = {p.person_id for _, p in good}
    if not persons:
        return good
    known = set(
        session.scalars(
            select(Person.id).where(Person.id.in_(bindparam("ids", expanding=True))),
            {"ids": list(persons)},
        )
    )
    for index, p in good:
        if p.person_id not in known:
            result.rejected.append({"index": index, "reason": _UNKNOWN_PERSON})
    return [(i, p) for i, p in good if p.person_id in known]


def clean_of(
    body: bytes, person_id: int, settings: Settings, now: datetime | None = None
) -> CleanBatch | None:
    """A device's batch whose every point is clean, ready for :func:`ingest_clean`
    (:func:`trace_points.clean_batch` with the window :func:`ingest` checks)."""
    now = now or datetime.now(UTC)
    earliest, latest = accepted_window(now, settings)
    found = clean_batch(body, person_id, earliest, latest, settings)
    if found is None:
        return None
    columns, count, _first, _last, days = found
    return CleanBatch(columns, count, days, received_at=now)


@dataclass(frozen=True)
class CleanBatch:
    columns: dict[str, str | None]  # each field's values as an array literal (CLEAN_FIELDS)
    count: int
    days: frozenset[date]  # the days its points fall on (UTC)
    received_at: datetime


def ingest_clean(
    database: Database,
    clean: CleanBatch,
    person_id: int,
    source: str,
    settings: Settings,
    who: audit.Context,
    action: str,
) -> IngestResult:
    """Store a device's clean batch and its audit row in one autocommit statement,
    PostgreSQL reading the points from an array per field: what :func:`ingest` would
    store point by point, at a fraction of the API's and the database's CPU
    (bench/ingest.py). As every autocommit statement, it waits at most 5 s for a row
    lock (``Database.autocommit``): past that, 503 with Retry-After, and the device
    sends the batch again; for a day being closed, 100 ms (``closed_day_writes``)."""
    result = IngestResult()
    audit_row = who.row(action, person_id)
    with database.autocommit.connect() as conn:
        if not _PERSON_KNOWN.rows(conn, {"person": person_id}):
            return _person_gone(conn, clean, audit_row, result)
        params = {
            "source": source,
            "max_speed": settings.trace_max_speed_mps,
            "person": person_id,
            "poor_accuracy": settings.trace_poor_accuracy_m,
            **receipt(clean.received_at, settings.trace_live_tolerance_s),
        }
        # The points' fields and the audit row's names are their own.
        assert not params.keys() & clean.columns.keys() and not params.keys() & audit_row.keys()
        params.update(clean.columns)
        params.update(audit_row)

        # Every day a point falls on: one between the first and the last may be being
        # closed; one without a point is not waited for.
        days = set(clean.days)

        def move(statement: Any) -> int:
            write = lambda: statement.rows(conn, params)[0][0]  # noqa: E731
            return int(with_partitions(conn, days, write))

        try:
            result.accepted = fresh_then_replays(move, _MOVE_CLEAN_FRESH, _MOVE_CLEAN)
        except IntegrityError as exc:  # deleted (merged, erased) since it was looked up
            if sqlstate(exc) != _NO_PERSON:
                raise
            return _person_gone(conn, clean, audit_row, result)
    result.duplicates = clean.count - result.accepted
    result.persons = {person_id}
    return result


def _person_gone(
    conn: Connection, clean: CleanBatch, audit_row: dict[str, Any], result: IngestResult
) -> IngestResult:
    """A device's batch whose person is no longer in the register: every point told so,
    the request audited."""
    conn.execute(text(audit.ROW_INSERT), audit_row)
    result.rejected = [{"index": i, "reason": _UNKNOWN_PERSON} for i in range(clean.count)]
    return result


def last_position(session: Session, person_id: int) -> Row[Any]:
    """The newest fix of a person, with the region it lies in."""
    row = session.execute(
        text(
            """
            SELECT l.person_id, l.recorded_at, ST_Y(l.geom) AS lat, ST_X(l.geom) AS lon,
                   l.accuracy_m,
                   (SELECT region_kato FROM region_parts rp
                     WHERE ST_Intersects(rp.geom, l.geom) LIMIT 1) AS region_kato
            FROM trace_last_positions l WHERE l.person_id = :p
            """
        ),
        {"p": person_id},
    ).first()
    if row is None:
        raise NotFound(f"no position known for person {person_id}")
    return row
