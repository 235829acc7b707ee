"""Days of ``trace_points`` being closed, as every writer of trace points meets them.

A day's partition is closed :data:`CLOSED_AFTER` its day: the maintenance job
(``tracking.trace_storage.compact_closed``) clusters it and builds its spatial index,
locking it meanwhile. Whoever writes a person's points (the phones, the batch API, a
merge of two persons in ``identity``) waits for that lock a moment only
(:func:`closed_day_writes`). Here, below every domain, so that each of them may.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from backend import clock
from backend.db import on_citus, sqlstate, usable
from backend.errors import DayClosing

PARTITION_PREFIX = "trace_points_p"
# Late points for a day are rare two days on: its partition is then closed (compacted).
CLOSED_AFTER = timedelta(days=2)
# The job closes a day this long after the writers start treating it as closed: an API
# host whose clock runs behind the job host's by less still bounds its waits on the day
# (closed_day_writes) before the job locks it; one whose clock runs ahead only does so
# earlier.
CLOCK_GRACE = timedelta(hours=1)
# How long a write into a day being closed waits for the day's lock.
CLOSED_DAY_LOCK_WAIT = "100ms"
LOCK_NOT_AVAILABLE = "55P03"
_compacted: set[date] = set()  # closed days this process saw clustered and indexed
_lock = threading.Lock()


def partition_name(day: date) -> str:
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def forget_compacted() -> None:
    """After partitions were dropped and made again: none is known compacted."""
    with _lock:
        _compacted.clear()


def saw_compacted(day: date) -> None:
    """``day`` is clustered and indexed: its writes keep their own lock wait."""
    with _lock:
        _compacted.add(day)


def partition_day(name: str) -> date | None:
    """The day of a day's partition by its name; None for any other partition (a
    default partition, one an operator attached)."""
    if not name.startswith(PARTITION_PREFIX):
        return None
    try:
        return datetime.strptime(name[len(PARTITION_PREFIX) :], "%Y%m%d").date()
    except ValueError:
        return None


def existing_partitions(conn: Connection) -> dict[date, str]:
    """The day partitions of ``trace_points``, by day."""
    rows = conn.execute(
        text(
            """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = 'trace_points'
            """
        )
    ).scalars()
    out = {}
    for name in rows:
        day = partition_day(name)
        if day is not None:
            out[day] = name
    return out


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included (none if ``last`` is before)."""
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def closed_days(days: Iterable[date], today: date | None = None) -> list[date]:
    """Those of ``days`` that are closed (:data:`CLOSED_AFTER` past), in order."""
    today = today or clock.utc_day()
    return sorted(d for d in set(days) if d <= today - CLOSED_AFTER)


# Whether partition ``c`` (a pg_class row) carries a valid spatial index: with its
# primary key's ``indisclustered``, what makes a closed day compacted (here and in
# ``trace_storage.compact_closed``).
INDEXED_SQL = """EXISTS (SELECT 1 FROM pg_index g JOIN pg_class gi ON gi.oid = g.indexrelid
                         JOIN pg_am a ON a.oid = gi.relam AND a.amname = 'gist'
                         WHERE g.indrelid = c.oid AND g.indisvalid)"""
_COMPACTED = text(
    f"""
    SELECT c.relname FROM pg_class c
    JOIN pg_index x ON x.indrelid = c.oid AND x.indisprimary AND x.indisclustered
    WHERE c.relname = ANY(:names) AND {INDEXED_SQL}
    """
)


def compacting_days(conn: Connection, days: Iterable[date]) -> list[date]:
    """Those of ``days`` that ``trace_storage.compact_closed`` may lock: closed, and not yet
    clustered and indexed. A day seen compacted stays so in this process's memory; any
    other closed day is asked of the catalog (late points are few)."""
    closing = closed_days(days)
    with _lock:
        closing = [d for d in closing if d not in _compacted]
    if not closing:
        return []
    names = {partition_name(d): d for d in closing}
    done = {names[n] for n in conn.execute(_COMPACTED, {"names": list(names)}).scalars()}
    with _lock:
        _compacted.update(done)
    return [d for d in closing if d not in done]


def being_closed(conn: Connection) -> list[date]:
    """Every day the job may be closing now (:func:`compacting_days` of every day's
    partition): for a reader or writer of all of a person's days."""
    return compacting_days(conn, existing_partitions(conn))


def closed_day_writes(
    conn: Connection, days: Iterable[date], reading: bool = False
) -> AbstractContextManager[None]:
    """Writes on ``conn`` of points of ``days``: when the job may be closing any of them
    (:func:`compacting_days`), they wait for a lock at most :data:`CLOSED_DAY_LOCK_WAIT`
    and raise :class:`DayClosing` past it (:func:`bounded_wait`).

    ``trace_storage.compact_closed`` locks a closed day's partition for its CLUSTER and its index
    build: minutes on a national day. A late point waiting it out would hold a request
    thread, and a phone's shared write every phone of its process behind it; told to
    come back instead, its sender resends, as after any 503. Any other write keeps its
    connection's own wait (5 s on the autocommit engine: a row lock another write holds
    is ridden out); so does a write of a day already closed, which the job no longer
    locks. The short wait covers the write's row locks too: one held longer by another
    write of the same points runs it out as well. ``traces.with_partitions`` then asks
    :func:`being_locked`: when no one holds the day itself, the write waits again as any
    other. (On Citus that cannot be told from the coordinator: ``day_closing`` stands.)

    The wait is set for a transaction, so that Citus passes it on to the workers, where
    a closed day's shards are locked (``citus.propagate_set_commands``; a placeholder on
    plain PostgreSQL): an autocommit connection's write is put in one of its own, and a
    transaction's wait is set back to what it was after the write.
    """
    return bounded_wait(conn, compacting_days(conn, days), reading)


@contextmanager
def bounded_wait(conn: Connection, closing: list[date], reading: bool = False) -> Iterator[None]:
    """The short wait of :func:`closed_day_writes` for the days ``closing``, already
    found being closed (none: the connection's own wait)."""
    if not closing:
        yield
        return
    dbapi = conn.connection.dbapi_connection
    own = dbapi is not None and dbapi.autocommit
    if own:
        conn.exec_driver_sql("BEGIN")
        before = None
    else:  # the caller's transaction gets back the wait it had, its own SET LOCAL too
        before = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
    try:
        conn.exec_driver_sql("SET LOCAL citus.propagate_set_commands = 'local'")
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{CLOSED_DAY_LOCK_WAIT}'")
        yield
    except BaseException as exc:
        if own and dbapi is not None and not dbapi.closed:
            conn.exec_driver_sql("ROLLBACK")
        elif usable(dbapi):
            # The caller's transaction goes on (the write ran in a savepoint, or is run
            # again): its own wait back. One the error ended is rolled back by the caller,
            # and its wait with it.
            conn.exec_driver_sql("SELECT set_config('lock_timeout', %s, true)", (before,))
        if isinstance(exc, OperationalError) and sqlstate(exc) == LOCK_NOT_AVAILABLE:
            raise DayClosing(closing, reading) from exc
        raise
    if own:
        conn.exec_driver_sql("COMMIT")
    else:
        conn.exec_driver_sql("SELECT set_config('lock_timeout', %s, true)", (before,))


# A lock the job takes to close a day (CLUSTER: ACCESS EXCLUSIVE; a plain index build:
# SHARE), held by another session on one of the days' partitions.
_CLOSING_LOCK = text(
    """
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE relation IN (SELECT to_regclass(n) FROM unnest(CAST(:names AS text[])) n)
          AND granted
          AND mode IN ('AccessExclusiveLock', 'ExclusiveLock', 'ShareLock',
                       'ShareRowExclusiveLock')
          AND pid <> pg_backend_pid())
    """
)


def being_locked(conn: Connection, days: Iterable[date]) -> bool | None:
    """Whether another session holds a lock that closes one of ``days`` (their
    partitions on this node); None when it cannot be told here: on Citus the job locks
    the days' shards on the workers, or the connection's transaction has ended."""
    if not usable(conn.connection.dbapi_connection) or on_citus(conn):
        return None
    return bool(conn.scalar(_CLOSING_LOCK, {"names": [partition_name(d) for d in days]}))


def closed_day_reads(
    conn: Connection, start: datetime, end: datetime
) -> AbstractContextManager[None]:
    """A read of points from ``start`` to ``end`` (excluded) on ``conn``'s transaction,
    bounded as :func:`closed_day_writes` bounds a write: a person's track over a day
    being closed would wait out the day's CLUSTER on one of the API's threads; it is
    answered 503 ``day_closing`` (ask again after Retry-After) instead."""
    days = days_between(start.date(), (end - timedelta(microseconds=1)).date())
    return closed_day_writes(conn, days, reading=True)
