"""Daily partitions of ``trace_points``: created ahead, closed, dropped after retention.

A day's partition is closed two days after its day (:data:`CLOSED_AFTER`): it is then
clustered by person and time and given its spatial (GiST) index, which it did not carry
while its points arrived (migration 0030: a third of PostgreSQL's work per point, for
an index whose one reader, the daily-presence aggregation, reads closed days only).
Before a partition is dropped, what indicators need from it — the region where each
person was on each day — is kept in ``daily_presence``.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from backend import clock
from backend.db import on_citus, sqlstate
from backend.services.closing_days import (
    CLOCK_GRACE,
    CLOSED_AFTER,
    CLOSED_DAY_LOCK_WAIT,
    INDEXED_SQL,
    LOCK_NOT_AVAILABLE,
    being_locked,
    bounded_wait,
    closed_day_writes,
    closed_days,
    compacting_days,
    days_between,
    existing_partitions,
    forget_compacted,
    partition_day,
    partition_name,
    saw_compacted,
)

__all__ = [  # what the rest of tracking and the tests read from here
    "CLOSED_AFTER",
    "CLOSED_DAY_LOCK_WAIT",
    "being_locked",
    "bounded_wait",
    "closed_day_writes",
    "closed_days",
    "compacting_days",
    "days_between",
    "existing_partitions",
    "partition_day",
    "partition_name",
]

log = logging.getLogger("qonys.traces")

# How long the job closing a day waits for its lock (:func:`compact_closed`).
COMPACT_LOCK_WAIT = "5s"
_LOCK_ID = 7_424_001  # advisory lock serializing partition DDL
_known: set[date] = set()
_known_lock = threading.Lock()


def geom_index_name(partition: str) -> str:
    """The spatial index a closed day's partition is given (:func:`compact_closed`; the
    same name as ``qonys_index_trace_partition`` gives it, migration 0030)."""
    return f"{partition}_geom_gist"


def create_partitions(engine: Engine, first: date, last: date) -> list[str]:
    """Create the daily partitions ``first``..``last`` (UTC days) that do not exist yet.

    Safe under concurrency: the phone path hands in its autocommit engine, where a
    transaction-level advisory lock would be released at the end of its own statement,
    so the DDL runs in a real READ COMMITTED transaction that holds the lock until the
    commit, and each ``CREATE`` says ``IF NOT EXISTS`` besides.
    """
    created = []
    with (
        engine.connect() as plain,
        plain.execution_options(isolation_level="READ COMMITTED").begin() as tx,
    ):
        conn = tx.connection
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        have = existing_partitions(conn)
        citus = on_citus(conn)
        day = first
        while day <= last:
            if day not in have:
                if citus:
                    _create_directly(conn, day)
                else:
                    # The owner's function (migration 0025): the runtime role has no
                    # CREATE on the schema; the partition is owned like the parent, so
                    # retention can drop it.
                    conn.execute(text("SELECT qonys_create_trace_partition(:d)"), {"d": day})
                created.append(partition_name(day))
            day += timedelta(days=1)
    with _known_lock:
        _known.update(days_between(first, last))
    return created


def _create_directly(conn: Connection, day: date) -> None:
    """Citus: a SECURITY DEFINER function cannot create a distributed table's partition
    (Citus makes the shards on the workers as the session's role, which then lacks CREATE
    there), so on Citus the runtime role keeps CREATE on ``public`` (backend/dbroles.py)
    and makes the partition itself, then hands it to the parent's owner."""
    name = partition_name(day)
    upper = day + timedelta(days=1)
    conn.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF trace_points FOR VALUES "
            f"FROM ('{day.isoformat()} 00:00+00') TO ('{upper.isoformat()} 00:00+00')"
        )
    )
    owner = conn.scalar(text("SELECT tableowner FROM pg_tables WHERE tablename = 'trace_points'"))
    if owner and owner != conn.scalar(text("SELECT current_user")):
        conn.execute(text(f'ALTER TABLE {name} OWNER TO "{owner}"'))


def ensure_partitions_for(engine: Engine, days: set[date]) -> None:
    """Make sure every day a batch touches has its partition (cached per process)."""
    with _known_lock:
        missing = days - _known
    if missing:
        create_partitions(engine, min(missing), max(missing))


def forget_known_partitions() -> None:
    """Forget which partitions exist, and which were seen compacted (a partition dropped
    and made again is neither)."""
    with _known_lock:
        _known.clear()
    forget_compacted()


def prepare_ahead(
    engine: Engine, retention_days: int, ahead_days: int, today: date | None = None
) -> list[str]:
    """The scheduled job: partitions from the retention edge to ``ahead_days`` ahead."""
    today = today or clock.utc_day()
    first = today - timedelta(days=retention_days)
    return create_partitions(engine, first, today + timedelta(days=ahead_days))


def keep_daily_presence(conn: Connection, partition: str) -> int:
    """Aggregate one partition into ``daily_presence`` (region by point-in-polygon)."""
    result = conn.execute(
        text(
            f"""
            INSERT INTO daily_presence (person_id, day, region_kato, points, first_at, last_at)
            SELECT t.person_id, (t.recorded_at AT TIME ZONE 'UTC')::date, rp.region_kato,
                   count(*), min(t.recorded_at), max(t.recorded_at)
            FROM {partition} t
            JOIN region_parts rp ON ST_Intersects(rp.geom, t.geom)
            GROUP BY 1, 2, 3
            ON CONFLICT (person_id, day, region_kato) DO UPDATE SET
                points = EXCLUDED.points, first_at = EXCLUDED.first_at, last_at = EXCLUDED.last_at
            """
        )
    )
    return result.rowcount or 0


def drop_expired(engine: Engine, retention_days: int, today: date | None = None) -> list[str]:
    """Drop whole partitions older than the retention period, keeping daily presence first.

    ``DETACH … CONCURRENTLY`` lets ingestion into current partitions go on meanwhile.
    Citus has no concurrent detach: there the partition (and its shards) is detached in
    a short lock that ingestion waits out.
    """
    today = today or clock.utc_day()
    cutoff = today - timedelta(days=retention_days)
    with engine.connect() as conn:
        old = sorted((d, n) for d, n in existing_partitions(conn).items() if d < cutoff)
        concurrently = "" if on_citus(conn) else " CONCURRENTLY"
    dropped = []
    for day, name in old:
        with engine.begin() as conn:
            keep_daily_presence(conn, name)
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text(f"ALTER TABLE trace_points DETACH PARTITION {name}{concurrently}"))
            conn.execute(text(f"DROP TABLE {name}"))
        with _known_lock:
            _known.discard(day)
        dropped.append(name)
    return dropped


def compact_closed(
    engine: Engine,
    today: date | None = None,
    limit: int = 3,
    lock_wait: str = COMPACT_LOCK_WAIT,
) -> list[str]:
    """Close day partitions whose day is :data:`CLOSED_AFTER` past, oldest first, a few
    per run: CLUSTER by (person, time), then the spatial index.

    Fixes arrive interleaved across thousands of phones, so one person's day is spread
    over as many pages as it has fixes; after CLUSTER it sits in a couple of pages and a
    30-day track reads ~30 small ranges. The GiST index is built once, on the clustered
    rows, instead of growing point by point while the day was written; late points after
    that go into it as usual. Meanwhile late points for the day are told to come back:
    the CLUSTER locks the partition, and the build locks out its writes (as the CLUSTER's
    rebuild of the index did before); a write into a closed day waits for them a moment
    only (:func:`closed_day_writes`: 503 ``day_closing``, and the client sends it again).
    Two days on, such points are rare.

    On Citus a write into ``trace_points`` locks every partition on the coordinator, so
    a lock there on one day's partition held every write of every day: the CLUSTER runs
    on each shard placement (the coordinator's table, empty, is only flagged), and the
    index is built CONCURRENTLY; the late points meet the shards' locks on the workers.

    The job waits for a day's lock ``lock_wait`` at most: queued behind a long reader
    of the day (an analyst's track), its exclusive lock would hold every later reader
    and writer of the day behind it for as long. Past it the day is left to a later run,
    and the next closed day is taken.

    Whether a partition is clustered is PostgreSQL's own ``indisclustered`` flag, and
    whether it is indexed, whether it has a valid GiST index: a run stopped between the
    two finishes the partition the next time, and a day whose index migration 0030
    dropped gets it back.

    Without ``today``, the job's day is that of :data:`CLOCK_GRACE` ago: an API host whose
    clock runs behind the job host's by less than that already treats the day as closed
    (its writes wait a moment only) when the job first locks it.
    """
    today = today or clock.utc_day(clock.now() - CLOCK_GRACE)
    with engine.connect() as conn:
        citus = on_citus(conn)
        rows = conn.execute(
            text(
                f"""
                SELECT c.relname, i.relname AS pkey, x.indisclustered, {INDEXED_SQL} AS indexed
                FROM pg_inherits h
                JOIN pg_class p ON p.oid = h.inhparent AND p.relname = 'trace_points'
                JOIN pg_class c ON c.oid = h.inhrelid
                JOIN pg_index x ON x.indrelid = c.oid AND x.indisprimary
                JOIN pg_class i ON i.oid = x.indexrelid
                """
            )
        ).all()
    todo = []
    for name, pkey, clustered, indexed in rows:
        day = partition_day(name)
        if day is not None and day <= today - CLOSED_AFTER and not (clustered and indexed):
            todo.append((day, name, pkey, clustered, indexed))
    done: list[str] = []
    for day, name, pkey, clustered, indexed in sorted(todo):
        if len(done) == limit:
            break
        try:
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                _close_day(conn, day, name, pkey, clustered, indexed, citus, lock_wait)
        except (OperationalError, _ShardsBusy) as exc:
            if isinstance(exc, OperationalError) and sqlstate(exc) != LOCK_NOT_AVAILABLE:
                raise  # the database unreachable: the job fails, and is retried
            log.info("%s is being read: closed on a later run (%s)", name, exc)
            continue
        except Exception:  # one day's fault (a shard's): the next days are not held
            log.exception("closing %s failed; tried again on the next run", name)
            continue
        saw_compacted(day)
        done.append(name)
    return done


def _close_day(
    conn: Connection,
    day: date,
    name: str,
    pkey: str,
    clustered: bool,
    indexed: bool,
    citus: bool,
    lock_wait: str,
) -> None:
    """One closed day clustered and indexed, waiting ``lock_wait`` at most for its
    locks; on Citus the concurrent index build waits as long as it must (it waits for
    every older transaction, which a short wait would leave an invalid index for)."""
    conn.exec_driver_sql(f"SET lock_timeout = '{lock_wait}'")
    try:
        if not clustered:
            _cluster_closed(conn, name, pkey, citus, lock_wait)
        if not indexed:
            if citus:
                conn.exec_driver_sql("RESET lock_timeout")
            _index_closed(conn, day, name, citus)
        conn.execute(text(f"ANALYZE {name}"))
    finally:
        if not conn.closed and not conn.invalidated:
            conn.exec_driver_sql("RESET lock_timeout")


# Run on each placement of a closed day's shards: CLUSTER the shard by its primary key
# (``run_command_on_placements`` formats it with the shard's name as ``%1$s``).
# The wait for the shard's lock is the job's own (``set_config``: a SET there would be
# formatted too); a shard that waited longer answers "lock timeout" (:class:`_ShardsBusy`).
_CLUSTER_SHARD = (
    "DO $do$ BEGIN PERFORM set_config('lock_timeout', '{wait}', true);"
    " EXECUTE format('CLUSTER %%I USING %%I', '%1$s', ("
    "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
    " WHERE x.indrelid = '%1$s'::regclass AND x.indisprimary)); END $do$"
)


class _ShardsBusy(Exception):
    """A shard of the day waited for its lock longer than the job waits."""


def _cluster_closed(conn: Connection, name: str, pkey: str, citus: bool, wait: str) -> None:
    """A closed day's rows in (person, time) order; on Citus shard by shard, with no
    lock on the coordinator's table that a write of another day would wait for, then
    the coordinator's table marked (its flag is what :func:`compact_closed` reads)."""
    if not citus:
        conn.execute(text(f"CLUSTER {name} USING {pkey}"))
        return
    failed = conn.execute(
        text(
            # One shard at a time: each CLUSTER copies its shard beside live ingestion.
            "SELECT result FROM run_command_on_placements(CAST(:t AS regclass), :c, false)"
            " WHERE NOT success"
        ),
        {"t": name, "c": _CLUSTER_SHARD.replace("{wait}", wait)},
    ).scalars()
    problems = list(failed)
    if any("lock timeout" in problem for problem in problems):
        raise _ShardsBusy(problems[0])
    if problems:
        raise RuntimeError(f"CLUSTER of {name}'s shards failed: {problems[0]}")
    # Citus does not take ALTER TABLE … CLUSTER ON to its shards (their flag is set):
    # the coordinator's table alone, under a lock no write waits for.
    conn.exec_driver_sql("SET citus.enable_ddl_propagation = off")
    try:
        conn.execute(text(f"ALTER TABLE {name} CLUSTER ON {pkey}"))
    finally:
        if not conn.closed and not conn.invalidated:
            conn.exec_driver_sql("RESET citus.enable_ddl_propagation")


def _index_closed(conn: Connection, day: date, name: str, citus: bool) -> None:
    """A closed day's spatial index, made by the owner's function (migration 0030: the
    runtime role has no CREATE on the schema); on Citus by the role itself, as it makes
    the partitions there (:func:`_create_directly`), concurrently (an index build locks
    the coordinator's table, and with it every write: :func:`compact_closed`), after
    dropping what a build stopped midway left invalid."""
    if citus:
        index = geom_index_name(name)
        conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {index}"))
        conn.execute(text(f"CREATE INDEX CONCURRENTLY {index} ON {name} USING gist (geom)"))
    else:
        conn.execute(text("SELECT qonys_index_trace_partition(:d)"), {"d": day})
