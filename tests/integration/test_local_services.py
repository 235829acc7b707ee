"""The project's own PostgreSQL and Redis are closed to other local users (issue 12).

Each test starts fresh services of its own, on free ports, in a data folder of its own,
with the same code `make run` uses; a cluster or Redis left open by an earlier version is
closed by the next `qonys services`.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis

from backend.settings import DB_PASSWORD_FILE, PROJECT_ROOT, REDIS_PASSWORD_FILE
from ops import stack
from tests import helpers as h

pytestmark = pytest.mark.skipif(
    not stack.PG_BIN.exists() or shutil.which("redis-server") is None,
    reason="needs Debian's PostgreSQL 15 and redis-server (installed by `qonys services`)",
)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Under /tmp and world-traversable: the cluster runs as the `postgres` OS user.
    path = Path(tempfile.mkdtemp(prefix="qonys-services-"))
    path.chmod(0o755)
    yield path
    pgdata, _sock, _log = stack._pg_dirs(path)
    if (pgdata / "PG_VERSION").exists():
        subprocess.run(
            stack._as_postgres(
                [str(stack.PG_BIN / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
    pid = path / "redis" / "redis.pid"
    if pid.exists():
        subprocess.run(["kill", pid.read_text().strip()], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _connect(port: int, password: str | None) -> None:
    psycopg2.connect(
        host="127.0.0.1",
        port=port,
        user="qonys",
        dbname="qonys",
        password=password or "",
        connect_timeout=5,
    ).close()


def test_postgres_has_no_trust_line_and_a_generated_password(data_dir: Path) -> None:
    port = h.free_port()
    stack.start_postgres(data_dir, port)
    stack.bootstrap_databases(data_dir, port)
    pgdata, sockdir, _log = stack._pg_dirs(data_dir)
    rules = [
        line.split()
        for line in (pgdata / "pg_hba.conf").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules and all("trust" not in rule for rule in rules)
    assert all(rule[-1] == "scram-sha-256" for rule in rules if rule[0] == "host")
    secret = data_dir / DB_PASSWORD_FILE
    assert _mode(secret) == 0o600
    password = secret.read_text().strip()
    assert len(password) >= 24 and password != "qonys"
    _connect(port, password)
    for wrong in (None, "qonys", password[:-1]):
        with pytest.raises(
            psycopg2.OperationalError, match=r"password authentication failed|no password"
        ):
            _connect(port, wrong)
    # The local socket asks for the password too (only the cluster owner's OS account
    # reaches the superuser, by peer).
    assert _mode(sockdir) == 0o700
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host=str(sockdir), port=port, user="postgres", dbname="postgres").close()


def test_a_cluster_left_with_trust_lines_is_closed_on_the_next_start(data_dir: Path) -> None:
    port = h.free_port()
    stack.start_postgres(data_dir, port)
    stack.bootstrap_databases(data_dir, port)
    pgdata, _sock, _log = stack._pg_dirs(data_dir)
    # As an earlier version left it: trust on the socket and a well-known password.
    (pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    stack._psql(data_dir / "pg-run", port, "ALTER ROLE qonys PASSWORD 'qonys'")
    subprocess.run(
        stack._as_postgres([str(stack.PG_BIN / "pg_ctl"), "reload", "-D", str(pgdata)]), check=True
    )
    h.wait_for(lambda: _accepts_anyone(port), timeout=10)
    stack.start_postgres(data_dir, port)
    stack.bootstrap_databases(data_dir, port)
    assert "trust" not in (pgdata / "pg_hba.conf").read_text().replace("no trust lines", "")
    h.wait_for(lambda: not _accepts_anyone(port), timeout=10)
    with pytest.raises(psycopg2.OperationalError):
        _connect(port, "qonys")
    _connect(port, (data_dir / DB_PASSWORD_FILE).read_text().strip())


def _accepts_anyone(port: int) -> bool:
    try:
        _connect(port, None)
    except psycopg2.OperationalError:
        return False
    return True


def test_redis_asks_for_its_generated_password_and_listens_on_loopback(data_dir: Path) -> None:
    port = h.free_port()
    stack.start_redis(data_dir, port)
    secret = data_dir / REDIS_PASSWORD_FILE
    assert _mode(secret) == 0o600
    assert _mode(data_dir / "redis" / "redis.conf") == 0o600
    password = secret.read_text().strip()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="qonys").ping()
    client = redis.Redis(port=port, password=password)
    assert client.ping()
    assert client.config_get("bind")["bind"].split() == ["127.0.0.1", "-::1"]
    assert client.config_get("protected-mode")["protected-mode"] == "yes"
    # The password is on no command line another local user can read.
    pid = (data_dir / "redis" / "redis.pid").read_text().strip()
    assert password not in Path(f"/proc/{pid}/cmdline").read_text()


def test_a_redis_left_open_gets_the_password_on_the_next_start(data_dir: Path) -> None:
    port = h.free_port()
    rdir = data_dir / "redis"
    rdir.mkdir()
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            str(rdir / "redis.pid"),
            "--dir",
            str(rdir),
        ],
        check=True,
    )
    h.wait_for(lambda: stack.redis_ok(f"redis://127.0.0.1:{port}/0"), timeout=10)
    stack.start_redis(data_dir, port)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    assert redis.Redis(
        port=port, password=(data_dir / REDIS_PASSWORD_FILE).read_text().strip()
    ).ping()


def test_two_processes_setting_up_the_services_at_once_both_succeed() -> None:
    """`make test`'s two passes set up the same services as they start. Side by side, their
    identical ALTER ROLE statements collided ("tuple concurrently updated") and 231 tests
    of the Citus pass errored; a lock on the data folder now takes them one at a time."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    data_dir = str(stack.project_data_dir())
    code = (
        "from pathlib import Path\n"
        "from ops import stack\n"
        f"for _ in range(4): stack.ensure_services(Path({data_dir!r}))\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    errors = [run.communicate(timeout=300)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
