"""Shared fixtures. Integration tests run against a real PostGIS and Redis.

The services are made reachable by the project's own ``ops.stack`` (the same code
as ``qonys services``); the test database is migrated from empty to head once per run.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg2
import pytest
import redis
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from backend.api.limits import limiter
from backend.app import create_app
from backend.cli import alembic_config, migrate
from backend.db import Database
from backend.models import Base
from backend.services.access.tokens import TOKEN_CACHE, create_token
from backend.services.tracking.phone_ingest import WINDOWS
from backend.services.tracking.trace_storage import existing_partitions, forget_known_partitions
from backend.settings import Settings
from gis.reference import load_reference
from ops import stack
from tests import factories as f
from tests import helpers as h

# Loaded once per run (reference geography, the policy parameters seeded by a migration)
# or never emptied (the append-only audit log); every other table of the models is
# emptied; policy values that a test added are removed before the next test.
KEPT_TABLES = frozenset(
    {"audit_log", "regions", "region_parts", "districts", "settlements", "policy_parameters"}
)


def register_tables() -> list[str]:
    return [name for name in Base.metadata.tables if name not in KEPT_TABLES]


def _test_redis_url(url: str) -> str:
    """Redis database 15, or ``QONYS_TEST_REDIS_DB``: two runs on one machine, each with
    its own ``TEST_DATABASE_URL``, then never flush each other's queue."""
    base = url.rsplit("/", 1)[0] if url.count("/") >= 3 else url
    return f"{base}/{os.environ.get('QONYS_TEST_REDIS_DB', '15')}"


@pytest.fixture(scope="session")
def endpoints() -> Any:
    data_dir = stack.project_data_dir()
    return stack.ensure_services(data_dir)


def _test_database(endpoints: Any) -> str:
    """The database the suite may wipe: a Citus coordinator's when run as `make test`'s
    Citus pass (``QONYS_TESTS_ON_CITUS``, tests/citus_suites.py), else the plain one."""
    if os.environ.get("QONYS_TESTS_ON_CITUS"):
        return os.environ["CITUS_DATABASE_URL"]
    return str(endpoints.test_database_url)


@pytest.fixture(scope="session")
def settings(endpoints: Any) -> Settings:
    s = Settings.from_env(
        database_url=_test_database(endpoints),
        redis_url=_test_redis_url(endpoints.redis_url),
        queue_name="qonys-test",
        testing=True,
        # Schemathesis resends every operation without credentials and wants 401 each
        # time; the per-address budget of failed authentication has its own tests
        # (test_trust_limits.py, with the default budget).
        auth_failure_limit="1000000/minute",
    )
    # Jobs read their settings from the environment, as a worker process would.
    os.environ["DATABASE_URL"] = s.database_url
    os.environ["REDIS_URL"] = s.redis_url
    return s


# Held for the whole run on the test database: a second run against the same database
# (and Redis database) waits for the first instead of wiping its tables under it.
RUN_LOCK = 7_424_999


@pytest.fixture(scope="session")
def _run_lock(settings: Settings) -> Iterator[None]:
    conn = psycopg2.connect(settings.database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,))
        row = cur.fetchone()
        if not (row and row[0]):
            print(
                f"\nanother test run is using {stack.masked(settings.database_url)}: waiting for it "
                "(a run of its own needs TEST_DATABASE_URL and QONYS_TEST_REDIS_DB)",
                file=sys.stderr,
                flush=True,
            )
            cur.execute("SELECT pg_advisory_lock(%s)", (RUN_LOCK,))
    yield
    conn.close()


@pytest.fixture(scope="session")
def migrated(settings: Settings, _run_lock: None) -> Settings:
    """The test database rebuilt from empty to head, with reference geography; the app
    then connects as the runtime role, as in production."""
    cfg = alembic_config(settings.database_url)
    cfg.attributes["force_audit_drop"] = True
    command.downgrade(cfg, "base")
    migrate(settings)
    database = Database(settings.database_url, pool_size=2)
    load_reference(database.engine)
    database.dispose()
    return settings


# The app of the session, once made: its per-process state restarts with every test.
_SESSION_APPS: list[Any] = []


@pytest.fixture(scope="session")
def app(migrated: Settings) -> Any:
    application = create_app(migrated)
    _SESSION_APPS.append(application)
    yield application
    application.extensions["qonys.db"].dispose()


@pytest.fixture
def db(app: Any) -> Any:
    return app.extensions["qonys.db"]


# Partitions of trace_points a run may keep beyond those it started with: tests that
# post points across weeks create a partition per day, and every TRUNCATE then visits
# each of them (and each of its shards on Citus). Past this many they are dropped.
SPARE_PARTITIONS = 16


def _written_tables(conn: Any, tables: list[str]) -> list[str]:
    """The tables a test left rows in, or whose id sequence it advanced: only these need
    emptying (a TRUNCATE of every table, on Citus of every shard, dominated the suite)."""
    probe = " UNION ALL ".join(
        f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {table})" for table in tables
    )
    written = set(conn.execute(text(probe)).scalars())
    advanced = conn.execute(
        text(
            """
            SELECT DISTINCT t.relname FROM pg_depend d
            JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_sequences q ON q.schemaname = 'public' AND q.sequencename = s.relname
            WHERE d.deptype IN ('a', 'i') AND q.last_value IS NOT NULL
            """
        )
    ).scalars()
    written.update(name for name in advanced if name in tables)
    return sorted(written)


def _drop_spare_partitions(conn: Any, baseline: frozenset[str]) -> bool:
    extra = sorted(set(existing_partitions(conn).values()) - baseline)
    if len(extra) <= SPARE_PARTITIONS:
        return False
    for name in extra:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    return True


@pytest.fixture(scope="session")
def _baseline_partitions(migrated: Settings) -> frozenset[str]:
    database = Database(migrated.database_url, pool_size=1)
    with database.engine.connect() as conn:
        names = frozenset(existing_partitions(conn).values())
    database.dispose()
    return names


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty what the previous test wrote (never the append-only audit log) and the test
    queue; a run of tests leaves no pile of day partitions behind."""
    if "app" not in request.fixturenames and "migrated" not in request.fixturenames:
        yield
        return
    settings: Settings = request.getfixturevalue("migrated")
    baseline: frozenset[str] = request.getfixturevalue("_baseline_partitions")

    database = Database(settings.database_url, pool_size=1)
    for attempt in range(5):
        try:
            # Probed in a transaction of its own: on Citus, a TRUNCATE after reading a
            # reference table in the same transaction must run over one connection a node.
            with database.engine.begin() as conn:
                dirty = _written_tables(conn, register_tables())
            with database.engine.begin() as conn:
                if dirty:
                    conn.execute(text(f"TRUNCATE {', '.join(dirty)} RESTART IDENTITY CASCADE"))
                # Policy values a test added go; the ones the migration seeded stay.
                conn.execute(
                    text("DELETE FROM policy_parameters WHERE set_by NOT LIKE 'migration %'")
                )
            with database.engine.begin() as conn:
                if _drop_spare_partitions(conn, baseline):
                    forget_known_partitions()
            break
        except OperationalError as exc:
            # A worker a test killed can leave its server session finishing a statement
            # for a moment; TRUNCATE then loses a deadlock against it. Again, shortly.
            if getattr(exc.orig, "pgcode", None) != "40P01" or attempt == 4:
                raise
            time.sleep(0.5)
    database.dispose()
    r = redis.Redis.from_url(settings.redis_url)
    r.flushdb()
    # Token ids restart with the tables: per-process device windows and cache restart too.
    WINDOWS.clear()
    TOKEN_CACHE.clear()
    # So do the rate leases: a device's spent budget is no other device's of the same id.
    for application in _SESSION_APPS:
        application.extensions["qonys.rate_leases"].clear()
    # flask-limiter's limiter is one object for every app; each create_app points it at
    # its own Redis. A test that makes an app of its own (a Redis that is down) would
    # leave every later test counting against that one: put back what it was.
    if "app" in request.fixturenames:
        request.getfixturevalue("app")  # made (and the limiter pointed at it) before
    counted_in = (limiter._storage, limiter._limiter)
    yield
    limiter._storage, limiter._limiter = counted_in
    r.flushdb()


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    """The app served over real HTTP (browsers, OWSLib, GDAL), its public URL the served one
    (OGC links are built from the configured public URL, never the Host header)."""
    configured = app.extensions["qonys.settings"]
    for url in h.serve(app):
        app.extensions["qonys.settings"] = replace(configured, public_url=url)
        try:
            yield url
        finally:
            app.extensions["qonys.settings"] = configured


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def token(db: Any) -> Any:
    """Factory: ``token("officer", region_kato=...)`` → request headers for a fresh token."""

    made = itertools.count(1)

    def make(role: str, **scope: Any) -> dict[str, str]:
        # Each fixture token stands for a person of its own unless the test names one.
        scope.setdefault("owner", f"test:person{next(made)}")
        with db.transaction() as session:
            secret, _row = create_token(session, role, **scope)
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def admin(token: Any) -> dict[str, str]:
    """An administrator's headers, with a purpose: admins read persons only with one."""
    return {**token("admin"), "X-Purpose": "tests"}


@pytest.fixture
def monitored(client: Any, admin: Any, token: Any) -> dict[str, Any]:
    """A labour immigrant registered and permitted in Astana, with a device token."""
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    f.permit(client, admin, person["id"])
    secret = token("device", person_id=person["id"])["Authorization"].split()[1]
    return {"person": person, "secret": secret, "headers": {"Authorization": f"Bearer {secret}"}}
