"""Database engine and sessions. The request or the job owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker


def sqlalchemy_url(url: str) -> str:
    """Pin the psycopg2 driver: libpq-style ``postgresql://`` URLs are what users set."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


class Database:
    """One engine and session factory per app or job process."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self._url, self._pool_size = url, pool_size
        self.engine: Engine = self._create(pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit: Engine | None = None

    def _create(self, pool_size: int, **options: object) -> Engine:
        return create_engine(
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
                "options": "-c jit=off",
            },
            **options,
        )

    @property
    def autocommit(self) -> Engine:
        """An engine whose connections are in autocommit for good: single statements on
        hot paths (token lookups, phone points) skip switching isolation per checkout."""
        if self._autocommit is None:
            self._autocommit = self._create(self._pool_size, isolation_level="AUTOCOMMIT")
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


Model = TypeVar("Model")


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


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE, INSERT or DELETE touched (0 for anything that is not one)."""
    return (result.rowcount or 0) if isinstance(result, CursorResult) else 0
