"""``COPY … FROM STDIN`` through the psycopg2 connection under a SQLAlchemy one."""

from __future__ import annotations

from typing import TextIO, cast

from psycopg2.extensions import connection as PgConnection
from sqlalchemy import Connection


def copy_csv(conn: Connection, statement: str, data: TextIO) -> None:
    """Stream ``data`` into ``statement`` (a ``COPY … FROM STDIN``) in the same transaction."""
    raw = cast(PgConnection, conn.connection.dbapi_connection)
    with raw.cursor() as cursor:
        cursor.copy_expert(statement, data)
