"""Database engine and sessions. The request or the job owns the transaction."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeGuard, TypeVar

from psycopg2.extensions import STATUS_READY, TRANSACTION_STATUS_INERROR
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Result,
    TextClause,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from backend import outages
from backend.statement_watch import StatementWatch


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg2 driver: libpq-style ``postgresql://`` URLs are what users set."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


# What a database that cannot be reached raises: an outage, answered 503 (api/problems.py)
# and counted (backend/outages.py), not a bug. (PoolTimeout: every pooled connection is
# waiting on it.)
OUTAGE_ERRORS = (OperationalError, InterfaceError, PoolTimeout)


# libpq's own settings (PostgreSQL 12+); see Database._create.
TCP_LIVENESS = {
    "tcp_user_timeout": 15_000,  # ms
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


# How long past the server's own bound a statement is waited for before its connection
# is ended (statement_watch.py): the cancel's answer needs a round trip, not seconds.
WATCH_MARGIN_S = 5.0


def _watched(engine: Engine, watch: StatementWatch) -> None:
    """Every statement, commit and rollback of ``engine`` noted by ``watch`` while it
    runs: SQLAlchemy's statements through its events, its commits and rollbacks (the
    pool's on return too) through the dialect, ``on_driver_cursor``'s (prepared
    statements, COPY) through the connection's ``info``. A connection the watch ended is
    refused at checkout, and the pool opens another."""

    def noted(_dbapi: Any, record: Any) -> None:
        record.info["qonys.watch"] = watch

    def refuse_ended(dbapi: Any, *_: Any) -> None:
        if watch.ended_connection(dbapi):
            raise DisconnectionError("ended by the statement watch")

    event.listen(engine, "connect", noted)
    event.listen(engine, "checkout", refuse_ended)
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, *_: watch.start(conn.connection.dbapi_connection),
    )
    event.listen(engine, "after_cursor_execute", lambda *_: watch.stop())
    event.listen(engine, "handle_error", lambda _context: watch.stop())
    dialect: Any = engine.dialect  # the engine's own, shared with its pool
    for name in ("do_commit", "do_rollback"):
        plain = getattr(dialect, name)

        def watched(proxied: Any, plain: Callable[[Any], None] = plain) -> None:
            # SQLAlchemy hands its proxy of the driver's connection (the pool's own, or
            # an ad-hoc one): the watch notes the driver's. Outside a transaction (in
            # autocommit, the pool's rollback on every return) psycopg2 sends nothing.
            driver = getattr(proxied, "dbapi_connection", None) or proxied
            if getattr(driver, "status", None) == STATUS_READY:
                plain(proxied)
                return
            with watch.running(driver):
                plain(proxied)

        setattr(dialect, name, watched)


class Database:
    """One engine and session factory per app or job process."""

    def __init__(
        self,
        url: str,
        pool_size: int = 10,
        statement_timeout_s: float | None = None,
        watch_margin_s: float = WATCH_MARGIN_S,
    ) -> None:
        """``statement_timeout_s``: the longest a statement may run (the API's bound;
        jobs, which close days and rebuild tables, go unbounded with None). The server
        cancels a statement past it (answered 503 ``busy``); one it does not answer
        within ``watch_margin_s`` more has its connection ended (``statement_watch``)."""
        self._url, self._pool_size = url, pool_size
        self._bounds = ""
        self.watch: StatementWatch | None = None
        if statement_timeout_s is not None:
            ms = max(1, round(statement_timeout_s * 1000))
            # A request's transaction left open between statements holds its locks: it
            # may stay idle as long as a statement may run, and never less than a minute.
            idle_ms = max(ms, 60_000)
            self._bounds = (
                f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={idle_ms}"
            )
            self.watch = StatementWatch(statement_timeout_s + watch_margin_s)
        self.engine: Engine = self._create(pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit: Engine | None = None

    def _create(self, pool_size: int, server_options: str = "", **options: object) -> Engine:
        engine = create_engine(
            sqlalchemy_url(self._url),
            pool_size=pool_size,
            max_overflow=20,
            # No pre-ping: it costs a round trip per checkout on the hottest paths. After a
            # database restart SQLAlchemy invalidates the whole pool on the first
            # disconnect error, so one request fails and the next ones reconnect.
            pool_recycle=1800,
            # No JIT: on the aggregate queries of indicators and maps it spent 0.7 s
            # compiling to save a few milliseconds (bench/monitoring.py, 1M persons).
            connect_args={
                "connect_timeout": 3,
                "application_name": "qonys",
                "options": " ".join(
                    part for part in ("-c jit=off", self._bounds, server_options) if part
                ),
                # A database cut off the network (packets dropped, no reset) left a pooled
                # connection's statement waiting for TCP to give up, about 15 minutes,
                # every thread of the API stuck behind it: sent data unacknowledged for
                # 15 s, or 3 unanswered keepalive probes after 30 s idle, end the
                # connection instead (an outage: 503). A long statement is not cut: the
                # server acknowledges it, and answers the probes while it runs.
                **TCP_LIVENESS,
            },
            **options,
        )
        # Which answers used the database: only they may say an outage there is over.
        event.listen(engine, "checkout", lambda *_: outages.used_database())
        if self.watch is not None:
            _watched(engine, self.watch)
        return engine

    @property
    def autocommit(self) -> Engine:
        """An engine whose connections are in autocommit for good: single statements on
        hot paths (token lookups, phone points) skip switching isolation per checkout."""
        if self._autocommit is None:
            # A statement here waits at most 5 s for a row lock: phone requests share
            # their writes (group commit), so one write held by a lock would hold every
            # phone request of the process behind it; it fails instead (503, resent).
            self._autocommit = self._create(
                self._pool_size, "-c lock_timeout=5s", isolation_level="AUTOCOMMIT"
            )
        return self._autocommit

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._autocommit is not None:
            self._autocommit.dispose()
        if self.watch is not None:
            self.watch.close()


Model = TypeVar("Model")
T = TypeVar("T")


def locked_by_person(session: Session, model: type[Model], row_id: int) -> Model | None:
    """Row ``row_id`` of ``model`` (a table with ``id`` and ``person_id``), locked FOR
    UPDATE and read afresh. The lock names the row's person too: on Citus a row lock
    must say which person's shard holds the row."""
    table: Any = model
    holder = session.scalar(select(table.person_id).where(table.id == row_id))
    if holder is None:
        return None
    locked: Model | None = session.scalars(
        select(table)
        .where(table.person_id == holder, table.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    return locked


def one_connection_per_node(conn: Session | Connection) -> None:
    """For the rest of this transaction, one connection per Citus node: what Citus asks
    of a transaction that reads the distributed tables in parallel and then changes a
    reference table they point at (employers, the geography). A placeholder setting,
    without effect, on a plain PostgreSQL."""
    conn.execute(text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))


# A bind exactly as text() reads one (its own pattern): ``:name``, not ``::type`` nor
# ``:name::type`` (write CAST), and ``\:`` for a literal colon.
_BIND = TextClause._bind_params_regex
_PLAN_CHANGED = "0A000"
STALE_PLAN = (_PLAN_CHANGED, "26000")  # the SQLSTATEs of :func:`stale_plan`
DEADLOCK = "40P01"
# Work held up, not a database out of reach: a deadlock lost, a serialization failure,
# a row lock waited for past ``lock_timeout``, a statement cancelled past
# ``statement_timeout`` (a lock held, or a database too loaded for the bound).
STATEMENT_TIMEOUT = "57014"
CONTENTION = (DEADLOCK, "40001", "55P03", STATEMENT_TIMEOUT)


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE PostgreSQL gave for an error SQLAlchemy raised (None for another)."""
    return getattr(getattr(error, "orig", None), "pgcode", None)


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` is the database out of reach, not work held up
    (:data:`CONTENTION`, which are also ``OperationalError``)."""
    return isinstance(error, OUTAGE_ERRORS) and sqlstate(error) not in CONTENTION


def count_failure(error: BaseException) -> outages.Outage | None:
    """Count a database error in its spell, the one log line per spell and not a
    traceback per request: the outage's, or held-up work's (:data:`CONTENTION`); None
    for any other error (a fault, to be logged as one)."""
    if not isinstance(error, OUTAGE_ERRORS):
        return None
    spell = outages.DATABASE if is_outage(error) else outages.CONTENTION
    spell.failed(error)
    return spell


def usable(dbapi: Any) -> TypeGuard[DBAPIConnection]:
    """Whether a driver connection's transaction (or its autocommit) can still run
    statements: open, and not in a transaction an error has ended."""
    return (
        dbapi is not None
        and not dbapi.closed
        and dbapi.info.transaction_status != TRANSACTION_STATUS_INERROR
    )


def on_citus(conn: Connection | Session) -> bool:
    """True on a Citus coordinator."""
    return bool(conn.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")))


def stale_plan(error: DBAPIError) -> bool:
    """Whether ``error`` is a prepared statement's plan gone stale (a table changed under
    it, or the server no longer holds it): :class:`Prepared` plans it again next time."""
    return sqlstate(error) in STALE_PLAN


class Prepared:
    """A statement PostgreSQL parses and plans once per connection, then runs by name.

    For the hottest statements (a phone's point, an officer's check): their planning cost
    as much as their execution (``EXPLAIN ANALYZE``: 0.5 ms of about 1 ms), and psycopg2
    sends every statement as text to be planned anew. Each parameter must have a type
    from its context (a cast, a column, a function's argument): a ``PREPARE`` has no
    values to guess from. The statement is prepared on a connection the first time it
    runs there; a new connection (after a restart) prepares it again.
    """

    def __init__(self, statement: TextClause | str) -> None:
        sql = statement.text if isinstance(statement, TextClause) else statement
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        body = _BIND.sub(number, sql).replace("\\:", ":")
        self.name = "q_" + hashlib.blake2s(body.encode(), digest_size=8).hexdigest()
        self.names = tuple(names)
        self._prepare = f"PREPARE {self.name} AS {body}"
        values = ", ".join(f"%({n})s" for n in names)
        self._execute = f"EXECUTE {self.name}({values})" if names else f"EXECUTE {self.name}"

    def rows(self, db: Session | Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, as tuples, read straight off psycopg2's cursor.

        The answers SQLAlchemy's ``exec_driver_sql`` would give, without its result (its
        metadata, row objects and processors are built anew for every statement that it
        did not compile): 0.03 ms of CPU per statement, a tenth of a check's own. Errors
        come out as SQLAlchemy raises them (``OperationalError`` for an outage,
        ``IntegrityError`` with its ``orig``); after a lost connection SQLAlchemy
        replaces the pool's older connections (see :func:`on_driver_cursor`).
        """
        return self._fetch(db, params)[1]

    def mappings(self, db: Session | Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row as a dict by column name (see :meth:`rows`)."""
        names, found = self._fetch(db, params)
        return [dict(zip(names, row, strict=True)) for row in found]

    def _fetch(
        self, db: Session | Connection, params: Mapping[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        conn = db.connection() if isinstance(db, Session) else db
        self._ensure(conn)
        try:
            return self._on_cursor(conn, params)
        except DBAPIError as exc:
            if not self._planned_again(conn, exc.orig):
                raise
            return self._on_cursor(conn, params)

    def _on_cursor(
        self, conn: Connection, params: Mapping[str, Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        def run(cursor: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor.execute(self._execute, params)
            names = [d[0] for d in cursor.description] if cursor.description else []
            return names, cursor.fetchall() if names else []

        return on_driver_cursor(conn, run, self._execute, params)

    def _planned_again(self, conn: Connection, error: BaseException | None) -> bool:
        """After a plan made before a migration changed a table (0A000: "cached plan
        must not change result type"), or for a statement the server no longer holds
        (26000): planned again before its next run on this connection, and at once in
        autocommit (True: run it again); in a transaction the error has ended it."""
        code = getattr(error, "pgcode", None)
        if code not in STALE_PLAN:
            return False
        info = conn.connection.info
        info.setdefault("qonys.prepared", set()).discard(self.name)
        if code == _PLAN_CHANGED:
            info.setdefault("qonys.stale", set()).add(self.name)
        dbapi = conn.connection.dbapi_connection
        # In autocommit, unless inside a block of its own (trace_storage.closed_day_writes)
        if not (usable(dbapi) and dbapi.autocommit):
            return False
        self._ensure(conn)
        return True

    def _ensure(self, conn: Connection) -> None:
        """Prepare on this connection unless done (dropping a stale plan first)."""
        known: set[str] = conn.connection.info.setdefault("qonys.prepared", set())
        if self.name in known:
            return
        stale: set[str] = conn.connection.info.setdefault("qonys.stale", set())

        def prepare(cursor: Any) -> None:
            if self.name in stale:
                cursor.execute(f"DEALLOCATE {self.name}")
                stale.discard(self.name)
            cursor.execute(self._prepare)  # no parameters: a % in the text stays one

        on_driver_cursor(conn, prepare, self._prepare, {})
        known.add(self.name)


def on_driver_cursor(
    conn: Connection, run: Callable[[Any], T], statement: str, params: Mapping[str, Any]
) -> T:
    """``run(cursor)`` on a cursor of the connection's psycopg2 connection, its errors
    raised as SQLAlchemy raises them (``OperationalError`` for an outage, which the API
    answers 503; ``IntegrityError`` with its ``orig``).

    A lost connection is met by SQLAlchemy itself, on a ``SELECT 1`` through it: it
    discards the connection and marks the pool's older ones to be replaced, as on any
    statement of its own. The error raised is the driver's, translated.
    """
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None  # a connection in use holds its driver's connection
    driver_error = conn.dialect.loaded_dbapi.Error
    watch: StatementWatch | None = conn.connection.info.get("qonys.watch")
    cursor = None
    try:
        cursor = dbapi.cursor()
        with watch.running(dbapi) if watch is not None else contextlib.nullcontext():
            return run(cursor)
    except driver_error as exc:
        invalidated = False
        if conn.dialect.is_disconnect(exc, dbapi, cursor):
            try:
                conn.exec_driver_sql("SELECT 1")
            except DBAPIError as lost:
                invalidated = lost.connection_invalidated
        raise DBAPIError.instance(
            statement,
            dict(params),
            exc,
            driver_error,
            connection_invalidated=invalidated,
            dialect=conn.dialect,
        ) from exc
    finally:
        if cursor is not None:
            with contextlib.suppress(driver_error):  # a cursor of a lost connection
                cursor.close()


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE, INSERT or DELETE touched (0 for anything that is not one)."""
    return (result.rowcount or 0) if isinstance(result, CursorResult) else 0
