"""The audit trail cannot be rewritten by the app, and a rewrite by anyone else is found.

The app connects as the runtime role (neither owner nor superuser): it appends and reads
the audit log, nothing more. A superuser who changes or removes rows with the triggers
off is caught by ``qonys audit verify``, which names the row.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend import dbroles
from backend.cli import migrate
from backend.db import Database
from backend.jobs import audit as audit_jobs
from backend.services.access import audit_chain
from ops import stack
from tests import helpers as h

TAMPER_DB = "qonys_tamper"


def _superuser(sql: str, db: str) -> str:
    """As the cluster's superuser, over its local socket (the project's own cluster)."""
    data_dir = stack.project_data_dir()
    _pg, sockdir, _log = stack._pg_dirs(data_dir)
    if not sockdir.exists():
        pytest.skip("needs the project's own PostgreSQL (its superuser on a local socket)")
    return stack._psql(sockdir, stack.DEFAULT_PG_PORT, sql, db=db)


def test_the_app_runs_as_a_role_that_can_only_append_to_the_audit_log(
    db: Any, migrated: Any
) -> None:
    with db.engine.connect() as conn:
        me = conn.execute(
            text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        ).one()
        owner = conn.scalar(text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log'"))
    assert me.current_user == dbroles.RUNTIME_ROLE and me.rolsuper is False
    assert owner != me.current_user
    for statement in (
        "UPDATE audit_log SET purpose = 'rewritten'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        "UPDATE audit_seals SET rows = 0",
        "DROP TABLE audit_log",
    ):
        with (
            pytest.raises(DBAPIError, match=r"permission denied|must be owner"),
            db.engine.begin() as conn,
        ):
            conn.execute(text(statement))
    # Appending works, and the time is the database's, not the writer's.
    with db.engine.begin() as conn:
        row = conn.execute(
            text(
                "INSERT INTO audit_log (at, actor, role, action) VALUES"
                " ('2001-01-01', 'test', 'admin', 'test.backdated') RETURNING at, row_hash"
            )
        ).one()
    assert row.at.year >= 2026 and row.row_hash is not None


def test_a_superuser_rewrite_is_found_and_named(migrated: Any) -> None:
    _superuser(f"DROP DATABASE IF EXISTS {TAMPER_DB}", "postgres")
    _superuser(f"CREATE DATABASE {TAMPER_DB} OWNER qonys", "postgres")
    _superuser("CREATE EXTENSION IF NOT EXISTS postgis", TAMPER_DB)
    url = stack.with_database(migrated.database_url, TAMPER_DB)
    settings = replace(migrated, database_url=url)
    migrate(settings)
    env = {"DATABASE_URL": url}
    database = Database(dbroles.app_url(settings), pool_size=1)
    try:
        with database.engine.begin() as conn:
            for n in range(30):
                conn.execute(
                    text(
                        "INSERT INTO audit_log (actor, role, action, purpose) VALUES"
                        " ('token:1', 'analyst', 'person.read', :p)"
                    ),
                    {"p": f"case {n}"},
                )
        # Sealing waits until rows are settled: pretend they were written long ago.
        _superuser(
            "SET session_replication_role = replica;"
            " UPDATE audit_log SET at = at - interval '1 hour';"
            " UPDATE audit_log a SET row_hash = audit_row_hash(a)",
            TAMPER_DB,
        )
        assert "sealed 30 rows" in h.qonys("audit", "seal", env=env, check=True).stdout
        assert "intact: 30 rows" in h.qonys("audit", "verify", env=env, check=True).stdout
        # A superuser changes a row with the triggers off: its hash no longer matches.
        victim = _superuser("SELECT min(id) + 4 FROM audit_log", TAMPER_DB)
        _superuser(
            "SET session_replication_role = replica;"
            f" UPDATE audit_log SET purpose = 'nothing to see' WHERE id = {victim}",
            TAMPER_DB,
        )
        found = h.qonys("audit", "verify", env=env)
        assert found.returncode == 1
        assert f"row {victim}: its content does not match its hash" in found.stderr
        # Even with the hash recomputed, the seal over it no longer adds up.
        _superuser(
            "SET session_replication_role = replica;"
            f" UPDATE audit_log a SET row_hash = audit_row_hash(a) WHERE id = {victim}",
            TAMPER_DB,
        )
        found = h.qonys("audit", "verify", env=env)
        assert found.returncode == 1 and "no longer give its digest" in found.stderr
        # A removed row is named by the range of its seal.
        _superuser(
            f"SET session_replication_role = replica; DELETE FROM audit_log WHERE id = {victim}",
            TAMPER_DB,
        )
        found = h.qonys("audit", "verify", env=env)
        assert found.returncode == 1 and "1 removed in that range" in found.stderr
    finally:
        database.dispose()
        _superuser(f"DROP DATABASE IF EXISTS {TAMPER_DB} WITH (FORCE)", "postgres")


def test_the_nightly_check_passes_on_an_intact_trail(db: Any, app: Any) -> None:
    assert audit_jobs.seal_audit() >= 0
    assert audit_jobs.verify_audit() > 0  # the test database's trail is intact


def test_the_owner_with_triggers_off_is_caught_too(migrated: Any, db: Any) -> None:
    """The tables' owner (who can switch the triggers off) rewrites and removes rows; all
    in one transaction that is rolled back, so the test database's trail stays intact."""
    with db.engine.begin() as conn:  # as the app: a few rows to work on
        for n in range(12):
            conn.execute(
                text(
                    "INSERT INTO audit_log (actor, role, action, purpose)"
                    " VALUES ('token:9', 'analyst', 'person.read', :p)"
                ),
                {"p": f"case {n}"},
            )
    owner = Database(migrated.database_url, pool_size=1)
    try:
        with owner.transaction() as session:
            session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            # Settled: written long ago (sealing leaves the last minute alone).
            unsealed = "id > coalesce((SELECT max(last_id) FROM audit_seals), 0)"
            session.execute(
                text(f"UPDATE audit_log SET at = at - interval '1 hour' WHERE {unsealed}")
            )
            session.execute(
                text(f"UPDATE audit_log a SET row_hash = audit_row_hash(a) WHERE {unsealed}")
            )
            assert audit_chain.seal_all(session) > 0
            assert audit_chain.verify(session)[1] == []
            victim = session.scalar(text("SELECT max(id) - 3 FROM audit_log"))
            session.execute(
                text("UPDATE audit_log SET purpose = 'nothing' WHERE id = :v"), {"v": victim}
            )
            _checked, breaks = audit_chain.verify(session)
            assert str(breaks[0]) == f"row {victim}: its content does not match its hash (changed)"
            session.execute(text("DELETE FROM audit_log WHERE id = :v"), {"v": victim})
            _checked, breaks = audit_chain.verify(session)
            assert breaks and "1 removed in that range" in str(breaks[0])
            session.rollback()
    finally:
        owner.dispose()
    result = h.qonys("audit", "verify", env={"DATABASE_URL": migrated.database_url})
    assert result.returncode == 0 and "audit trail intact" in result.stdout


@pytest.mark.citus
def test_only_a_writer_of_the_audit_log_holds_back_its_seal(db: Any, migrated: Any) -> None:
    """A seal waited for every transaction still running, so closing a day (a CLUSTER
    of minutes at national scale, no audit row) held back every seal as long. Now only
    a transaction that writes to the audit log does: its row, written before a row that
    commits first, is never left inside a sealed range. A writer the runtime role cannot
    watch (the owner's session) holds back every row. Rows are sealed here as soon as
    they are written (``settle_s=0``); every seal is then verified."""

    def append(conn: Any, action: str) -> int:
        return int(
            conn.execute(
                text(
                    "INSERT INTO audit_log (actor, role, action) VALUES ('test', 'admin', :a)"
                    " RETURNING id"
                ),
                {"a": action},
            ).scalar_one()
        )

    def committed(action: str) -> int:
        with db.engine.begin() as conn:
            return append(conn, action)

    def seal_now() -> int:
        with db.transaction() as session:
            audit_chain.seal_all(session, settle_s=0)
            return int(session.scalar(text("SELECT coalesce(max(last_id), 0) FROM audit_seals")))

    seal_now()
    with db.engine.connect() as long, long.begin():
        long.execute(text("SELECT txid_current()"))  # a writer, as a CLUSTER is: no audit row
        first = committed("test.beside-a-long-transaction")
        assert seal_now() >= first
    with db.engine.connect() as writer, writer.begin():
        slow = append(writer, "test.slow-writer")
        later = committed("test.committed-first")
        assert seal_now() < slow  # neither the slow row's place nor the row after it
    assert seal_now() >= later
    owner = Database(migrated.database_url, pool_size=1)
    try:
        with owner.engine.connect() as conn, conn.begin():
            hidden = append(conn, "test.owner-writer")
            after = committed("test.after-the-owner")
            assert seal_now() < hidden
        assert seal_now() >= after
    finally:
        owner.dispose()
    with db.transaction() as session:
        checked, breaks = audit_chain.verify(session)
    assert checked > 0 and breaks == []


def test_audit_ids_are_drawn_in_the_order_of_time(db: Any) -> None:
    """The seal's rule (audit_chain's docstring) needs the ids in the order they are
    drawn: a sequence cache would hand a session a block of ids ahead of others'."""
    with db.engine.connect() as conn:
        cache = conn.execute(
            text("SELECT cache_size FROM pg_sequences WHERE sequencename = 'audit_log_id_seq'")
        ).scalar_one()
        isolation = conn.execute(text("SHOW default_transaction_isolation")).scalar_one()
    assert cache == 1 and isolation == "read committed"
