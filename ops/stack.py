"""Operations: make sure a PostGIS and a Redis are reachable, starting project-owned ones if needed.

When ``DATABASE_URL``/``REDIS_URL`` are set they are used as they are. Otherwise Debian's
``postgresql-15-postgis-3`` and ``redis-server`` are installed when missing and a
PostgreSQL cluster and a Redis server owned by the project are started under the data
folder, on their own ports, so they never collide with a system instance. Every step
is safe to run twice.

Neither is open to other local users: PostgreSQL has no ``trust`` line (its superuser
only through the cluster owner's own socket, by peer, every other role by scram-sha-256
with a password generated into the data folder), and Redis asks for a generated
``requirepass`` and listens on loopback only. The passwords are files of mode 0600.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis

from backend.localsecrets import generated_secret
from backend.settings import (
    DB_PASSWORD_FILE,
    DEFAULT_PG_PORT,
    DEFAULT_REDIS_PORT,
    PROJECT_ROOT,
    REDIS_PASSWORD_FILE,
    default_database_url,
    default_redis_url,
)
from backend.settings import (
    masked as masked,
)
from backend.settings import (
    without_password as without_password,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def project_data_dir() -> Path:
    """The folder of the project's own services: ``QONYS_DATA_DIR``, else the checkout's
    ``.data`` (what `qonys services` uses)."""
    return Path(os.environ.get("QONYS_DATA_DIR", PROJECT_ROOT / ".data"))


APT_PACKAGES = ("postgresql-15-postgis-3", "postgresql-15", "redis-server")
DB_NAMES = ("qonys", "qonys_test", "qonys_bench")
PG_TUNING = {
    "shared_buffers": "1GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "max_connections": "200",
    "listen_addresses": "127.0.0.1",
}


class StackError(RuntimeError):
    """A service could not be made reachable; the message says what to do."""


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    test_database_url: str
    redis_url: str


def _log(msg: str) -> None:
    print(f"[qonys services] {msg}", flush=True)


def _is_root() -> bool:
    return os.geteuid() == 0


def _missing_packages() -> list[str]:
    missing = []
    for pkg in APT_PACKAGES:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True
        )
        if "install ok installed" not in out.stdout:
            missing.append(pkg)
    return missing


def ensure_packages() -> None:
    """Install PostGIS and Redis from Debian when they are not there yet."""
    if shutil.which("dpkg-query") is None:
        raise StackError("not a Debian system: set DATABASE_URL and REDIS_URL instead")
    missing = _missing_packages()
    if not missing:
        return
    if not _is_root():
        raise StackError(
            f"missing packages {missing}: run `sudo apt-get install {' '.join(missing)}`"
        )
    _log(f"installing {' '.join(missing)} (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if _is_root() else cmd


def _pg_dirs(data_dir: Path) -> tuple[Path, Path, Path]:
    return data_dir / "pg", data_dir / "pg-run", data_dir / "pg.log"


def start_postgres(
    data_dir: Path, port: int = DEFAULT_PG_PORT, extra_settings: dict[str, str] | None = None
) -> None:
    """initdb (first time) and start the project's own cluster; no-op when it runs."""
    pgdata, sockdir, logfile = _pg_dirs(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    owner = "postgres" if _is_root() else pwd.getpwuid(os.geteuid()).pw_name
    if not (pgdata / "PG_VERSION").exists():
        _log(f"initdb {pgdata}")
        pgdata.mkdir(parents=True, exist_ok=True)
        shutil.chown(pgdata, owner, owner)
        pgdata.chmod(0o700)
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    sockdir.mkdir(parents=True, exist_ok=True)
    shutil.chown(sockdir, owner, owner)
    sockdir.chmod(0o700)
    changed = _write_access_rules(pgdata, owner)
    if not logfile.exists():
        logfile.touch()
    shutil.chown(logfile, owner, owner)
    status = subprocess.run(
        _as_postgres([str(PG_BIN / "pg_ctl"), "status", "-D", str(pgdata)]),
        capture_output=True,
    )
    if status.returncode == 0:
        if changed:
            _log("access rules rewritten (no trust lines): reloading PostgreSQL")
            subprocess.run(
                _as_postgres([str(PG_BIN / "pg_ctl"), "reload", "-D", str(pgdata)]),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        return
    settings = {**PG_TUNING, **(extra_settings or {})}
    opts = f"-p {port} -k {sockdir} " + " ".join(f"-c {k}={v}" for k, v in settings.items())
    _log(f"starting PostgreSQL on 127.0.0.1:{port}")
    subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(logfile),
                "-o",
                opts,
                "-w",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _write_access_rules(pgdata: Path, owner: str) -> bool:
    """Who may connect how (pg_hba.conf, pg_ident.conf); True when they changed.

    The superuser ``postgres`` only from the cluster owner's OS account on the local
    socket (peer); every other role by scram-sha-256, locally and over loopback. Clusters
    initialised by an earlier version with trust lines are corrected here.
    """
    hba = (
        "# Written by `qonys services`: no trust lines.\n"
        "local all postgres peer map=owner\n"
        "local all all scram-sha-256\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host all all ::1/128 scram-sha-256\n"
    )
    ident = f"# Written by `qonys services`.\nowner {owner} postgres\n"
    changed = False
    for name, content in (("pg_hba.conf", hba), ("pg_ident.conf", ident)):
        path = pgdata / name
        if path.read_text("utf-8") != content:
            path.write_text(content, "utf-8")
            shutil.chown(path, owner, owner)
            path.chmod(0o600)
            changed = True
    return changed


def _psql(sockdir: Path, port: int, sql: str, db: str = "postgres") -> str:
    out = subprocess.run(
        _as_postgres(
            [
                str(PG_BIN / "psql"),
                "-h",
                str(sockdir),
                "-p",
                str(port),
                "-U",
                "postgres",
                "-d",
                db,
                "-tAq",
                "-v",
                "ON_ERROR_STOP=1",
            ]
        ),
        input=sql,  # on stdin, so a password in it never shows in the process list
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise StackError(f"psql on port {port} ({db}): {out.stderr.strip()[:500]}")
    return out.stdout.strip()


def bootstrap_databases(
    data_dir: Path,
    port: int = DEFAULT_PG_PORT,
    names: tuple[str, ...] = DB_NAMES,
    extensions: tuple[str, ...] = ("postgis",),
    password_dir: Path | None = None,
) -> None:
    """Create the ``qonys`` role, the app and test databases and PostGIS in each.

    The role's password is generated into the data folder the first time and set again
    on every start (a cluster from an earlier version had the well-known ``qonys``).
    """
    _pg, sockdir, _log_file = _pg_dirs(data_dir)
    password = generated_secret((password_dir or data_dir) / DB_PASSWORD_FILE)
    if not _psql(sockdir, port, "SELECT 1 FROM pg_roles WHERE rolname='qonys'"):
        _psql(sockdir, port, "CREATE ROLE qonys LOGIN")
    _psql(sockdir, port, f"ALTER ROLE qonys LOGIN PASSWORD '{password}'")
    # The owner creates the app's runtime role on `qonys db upgrade` (backend/dbroles.py);
    # it is never a superuser.
    _psql(sockdir, port, "ALTER ROLE qonys CREATEROLE NOSUPERUSER")
    for name in names:
        if not _psql(sockdir, port, f"SELECT 1 FROM pg_database WHERE datname='{name}'"):
            _log(f"creating database {name}")
            _psql(sockdir, port, f"CREATE DATABASE {name} OWNER qonys")
        for extension in extensions:
            # Only when missing: a Citus worker refuses even IF NOT EXISTS once joined.
            if not _psql(
                sockdir, port, f"SELECT 1 FROM pg_extension WHERE extname='{extension}'", db=name
            ):
                _psql(sockdir, port, f"CREATE EXTENSION {extension}", db=name)


def start_redis(data_dir: Path, port: int = DEFAULT_REDIS_PORT) -> None:
    """Start the project's own Redis, with its password, unless it already answers."""
    password = generated_secret(data_dir / REDIS_PASSWORD_FILE)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    if redis_ok(f"redis://127.0.0.1:{port}/0"):
        # Ours from an earlier version, open to anyone local: close it now. (Checked
        # first: redis-py ignores a password the server does not ask for.)
        _log("Redis had no password: setting the generated requirepass")
        redis.Redis.from_url(f"redis://127.0.0.1:{port}/0").config_set("requirepass", password)
        return
    if redis_ok(url):
        return
    rdir = data_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    # The password goes in a 0600 file, never on a command line others can read.
    conf = rdir / "redis.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(
            f"port {port}\nbind 127.0.0.1 -::1\nprotected-mode yes\n"
            f"requirepass {password}\ndir {rdir}\ndaemonize yes\n"
            f"pidfile {rdir / 'redis.pid'}\nlogfile {rdir / 'redis.log'}\nappendonly yes\n"
        )
    _log(f"starting Redis on 127.0.0.1:{port}")
    subprocess.run(["redis-server", str(conf)], check=True)
    for _ in range(50):
        if redis_ok(url):
            return
        time.sleep(0.1)
    raise StackError(f"Redis did not start; see {rdir / 'redis.log'}")


def redis_ok(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def test_database_url(database_url: str) -> str:
    """The database tests may wipe: ``TEST_DATABASE_URL`` or ``<name>_test`` beside the app's."""
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"]
    name = urlsplit(database_url).path.lstrip("/") or "qonys"
    return database_url if name.endswith("_test") else with_database(database_url, f"{name}_test")


def _ensure_external_database(url: str) -> None:
    """Create a missing test database and PostGIS on a user-provided server when allowed."""
    name = urlsplit(url).path.lstrip("/")
    try:
        psycopg2.connect(url).close()
    except psycopg2.OperationalError:
        admin = psycopg2.connect(with_database(url, "postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        admin.close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.close()


@contextlib.contextmanager
def _one_at_a_time(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's set-up lock: two processes setting up the same services at
    once (`make test`'s two passes start together) would run the same ALTER ROLE side by
    side, and PostgreSQL refuses the second ("tuple concurrently updated")."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "services.lock").open("a") as lock:  # closing it releases the lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_services(data_dir: Path, need_test_db: bool = True) -> Endpoints:
    """Return reachable URLs for the database, the test database and Redis."""
    with _one_at_a_time(data_dir):
        return _ensure_services(data_dir, need_test_db)


def _ensure_services(data_dir: Path, need_test_db: bool) -> Endpoints:
    db_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not db_url or not redis_url:
        ensure_packages()
    if db_url:
        _ensure_external_database(db_url)
    else:
        start_postgres(data_dir)
        bootstrap_databases(data_dir)
        db_url = default_database_url(data_dir)
    test_url = test_database_url(db_url)
    if need_test_db and os.environ.get("DATABASE_URL"):
        _ensure_external_database(test_url)
    if redis_url:
        if not redis_ok(redis_url):
            raise StackError(f"REDIS_URL {redis_url} does not answer PING")
    else:
        start_redis(data_dir)
        redis_url = default_redis_url(data_dir)
    return Endpoints(db_url, test_url, redis_url)


def stop_postgres(data_dir: Path) -> None:
    """Stop the cluster under ``data_dir`` when it runs."""
    pgdata, _sock, _logf = _pg_dirs(data_dir)
    if (pgdata / "PG_VERSION").exists():
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "stop"]),
            capture_output=True,
        )


def restart_upgraded_cluster(data_dir: Path) -> None:
    """Restart the project's cluster when Debian upgraded PostgreSQL's binaries under it
    (installing ``postgresql-server-dev-15`` does): it keeps running the old ones."""
    pgdata, _sockdir, _logf = _pg_dirs(data_dir)
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = pid_file.read_text().split("\n", 1)[0].strip()
    exe = Path(f"/proc/{pid}/exe")
    try:
        stale = "(deleted)" in os.readlink(exe)
    except OSError:
        return
    if stale:
        _log("PostgreSQL was upgraded under the running cluster: restarting it")
        subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "restart"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )


def stop_services(data_dir: Path) -> None:
    """Stop the project-owned PostgreSQL and Redis (never external ones)."""
    stop_postgres(data_dir)
    r = redis.Redis.from_url(default_redis_url(data_dir))
    with contextlib.suppress(redis.RedisError):
        r.shutdown(nosave=False)
