"""Statements PostgreSQL plans once per connection (backend.db.Prepared), on the real
database: the same answers as sent as text, prepared once per connection."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError

from backend.db import Prepared

# A cast written ``::``, a ``%`` in a literal and a bind used twice: none may confuse it.
STATEMENT = """
    SELECT CAST(:n AS integer) * 2 AS twice, '100%'::text AS literal,
           CAST(:word AS text) || '-' || CAST(:word AS text) AS again,
           cardinality(CAST(CAST(:items AS text[]) AS float8[])) AS items
"""


def _prepared_here(conn: Any) -> list[str]:
    return list(conn.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


def test_a_prepared_statement_answers_as_the_text_does(db: Any) -> None:
    statement = Prepared(STATEMENT)
    assert statement.names == ("n", "word", "items")
    params = {"n": 21, "word": "qonys", "items": [None, None]}
    with db.autocommit.connect() as conn:
        as_text = conn.execute(text(STATEMENT), params).mappings().one()
        [prepared] = statement.mappings(conn, params)
        assert (
            prepared
            == dict(as_text)
            == {
                "twice": 42,
                "literal": "100%",
                "again": "qonys-qonys",
                "items": 2,
            }
        )
        assert statement.mappings(conn, {**params, "n": 2})[0]["twice"] == 4
        assert _prepared_here(conn).count(statement.name) == 1  # prepared once


def test_a_new_connection_prepares_it_again(db: Any) -> None:
    statement = Prepared("SELECT CAST(:n AS integer) + 1")
    with db.autocommit.connect() as conn:
        assert statement.rows(conn, {"n": 1}) == [(2,)]
        conn.invalidate()  # as after a database restart: the pool opens a new connection
    with db.autocommit.connect() as conn:
        assert statement.rows(conn, {"n": 2}) == [(3,)]
        assert statement.name in _prepared_here(conn)


def test_it_runs_inside_a_session_transaction_too(db: Any) -> None:
    statement = Prepared("SELECT CAST(:n AS integer) * 3")
    with db.transaction() as session:
        assert statement.rows(session, {"n": 3}) == [(9,)]


def test_binds_are_read_as_text_reads_them() -> None:
    """``:name::type`` is no bind for text() either (write CAST); ``\\:`` is a colon."""
    statement = Prepared(r"SELECT CAST(:a AS int), '\:b', :c::text -- :a again")
    assert statement.names == ("a",)


def test_a_plan_made_before_a_table_changed_is_made_again(db: Any) -> None:
    """A migration adding a column while the app runs: the next run plans anew instead
    of failing with "cached plan must not change result type" until a restart."""
    statement = Prepared("SELECT * FROM pg_temp.changing WHERE a = CAST(:a AS integer)")
    with db.autocommit.connect() as conn:
        conn.execute(text("CREATE TEMP TABLE changing (a integer)"))
        conn.execute(text("INSERT INTO changing VALUES (1)"))
        assert statement.rows(conn, {"a": 1}) == [(1,)]
        conn.execute(text("ALTER TABLE changing ADD COLUMN b text DEFAULT 'new'"))
        assert statement.rows(conn, {"a": 1}) == [(1, "new")]
        conn.execute(text("ALTER TABLE changing ADD COLUMN c integer DEFAULT 3"))
        assert statement.rows(conn, {"a": 1}) == [(1, "new", 3)]
        conn.execute(text("ALTER TABLE changing ADD COLUMN d text DEFAULT 'rows'"))
        assert statement.rows(conn, {"a": 1}) == [(1, "new", 3, "rows")]
        conn.execute(text("DROP TABLE changing"))


def test_rows_and_mappings_answer_as_sqlalchemy_does(db: Any) -> None:
    """Read straight off the driver's cursor: the same values, the same column names."""
    statement = Prepared(STATEMENT)
    params = {"n": 21, "word": "qonys", "items": [None, None]}
    with db.autocommit.connect() as conn:
        through_sqlalchemy = conn.execute(text(STATEMENT), params).mappings().one()
        assert statement.mappings(conn, params) == [dict(through_sqlalchemy)]
        assert statement.rows(conn, params) == [tuple(through_sqlalchemy.values())]
        assert _prepared_here(conn).count(statement.name) == 1
    with db.transaction() as session:
        assert statement.rows(session, {**params, "n": 1})[0][0] == 2
    none = Prepared("SELECT 1 WHERE CAST(:n AS integer) < 0")
    with db.autocommit.connect() as conn:
        assert none.rows(conn, {"n": 1}) == [] and none.mappings(conn, {"n": 1}) == []


def test_a_refused_row_is_the_error_sqlalchemy_raises(db: Any) -> None:
    """Callers tell errors apart as from SQLAlchemy (the phones' group write splits on
    an IntegrityError or DataError, with the driver's error and code in ``orig``)."""
    statement = Prepared("SELECT CAST(CAST(:v AS text) AS integer)")
    with db.autocommit.connect() as conn:
        with pytest.raises(DataError) as refused:
            statement.rows(conn, {"v": "not a number"})
        assert refused.value.orig.pgcode == "22P02"  # type: ignore[union-attr]
        assert statement.rows(conn, {"v": "7"}) == [(7,)]  # the connection still serves


def test_a_lost_connection_is_an_outage_and_the_pool_opens_anew(db: Any) -> None:
    """The database's process for a pooled connection gone (a restart): SQLAlchemy's
    OperationalError, which the API answers 503, and the next checkout works."""
    statement = Prepared("SELECT CAST(:n AS integer) * 5")
    with db.autocommit.connect() as conn:
        assert statement.rows(conn, {"n": 1}) == [(5,)]
        mine = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with db.autocommit.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": mine})
        with pytest.raises(OperationalError) as lost:
            statement.rows(conn, {"n": 2})
        assert lost.value.connection_invalidated
    with db.autocommit.connect() as conn:
        assert statement.rows(conn, {"n": 3}) == [(15,)]
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != mine


def test_after_a_lost_connection_the_pools_older_ones_are_not_handed_out(db: Any) -> None:
    """A restart ends every connection of the pool: the first statement to meet one has
    the pool replace them all (as SQLAlchemy does), not one failed request per pooled
    connection."""
    statement = Prepared("SELECT pg_backend_pid() + 0 * CAST(:n AS integer)")
    db.autocommit.dispose()  # the pool holds only the two connections made below
    try:
        with db.autocommit.connect() as a, db.autocommit.connect() as b:
            before = {statement.rows(a, {"n": 1})[0][0], statement.rows(b, {"n": 1})[0][0]}
        with db.engine.begin() as admin:  # a connection of another pool
            admin.execute(
                text("SELECT pg_terminate_backend(p) FROM unnest(:ps) p"), {"ps": list(before)}
            )
        with db.autocommit.connect() as conn, pytest.raises(OperationalError):
            statement.rows(conn, {"n": 2})
        with db.autocommit.connect() as a, db.autocommit.connect() as b:
            after = {statement.rows(a, {"n": 3})[0][0], statement.rows(b, {"n": 3})[0][0]}
        assert not after & before
    finally:
        db.autocommit.dispose()  # nothing of this test's is left for the next one
