"""A real Citus cluster on this machine: a coordinator and N workers, each its own
PostgreSQL 15 cluster with PostGIS and Citus, on its own port, joined by ``citus_add_node``.

Citus is not in Debian's archive, and its source is a third-party release that stays out
of this repository: ``QONYS_CITUS_SOURCE`` names a folder holding the release tarball
(``citus-13.2.2.tar.gz``, the v13.2.2 tag of citusdata/citus) and any ``*.patch`` to apply
to it (Debian's PostgreSQL 15.20 needs one, see the README). It is built once, into a
staging tree cached under the data folder by the tarball's hash, and copied into
PostgreSQL's directories whenever they lack it (a fresh machine, or after a package
upgrade). Installing the build dependencies upgrades Debian's PostgreSQL server package,
so clusters already running are restarted on the new binaries.

As everywhere in ``qonys services``: no trust lines. The nodes reach each other over
loopback with scram-sha-256; the passwords they use are in ``pg_dist_authinfo``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from backend import dbroles
from backend.dbroles import RUNTIME_ROLE as RUNTIME
from backend.localsecrets import generated_secret
from backend.settings import DB_PASSWORD_FILE
from ops import stack

CITUS_VERSION = "13.2.2"
BUILD_PACKAGES = (
    "postgresql-server-dev-15",
    "liblz4-dev",
    "libzstd-dev",
    "libkrb5-dev",
    "libssl-dev",
    "libselinux1-dev",
    "libxslt1-dev",
    "libpam0g-dev",
    "libreadline-dev",
    "make",
    "gcc",
)
INSTALLED_LIBRARY = Path("/usr/lib/postgresql/15/lib/citus.so")
BASE_PORT = 54340
SOURCE_SETTING = "QONYS_CITUS_SOURCE"
TARBALL = f"citus-{CITUS_VERSION}.tar.gz"
# Shards per distributed table in the suites' database: few, so that emptying and
# migrating it stays quick, yet more than one per worker. Other databases keep Citus's
# default (citus.shard_count, 32), which the migrations use.
TEST_SHARD_COUNT = 4
DATABASE = "qonys"
# The suites' own database on the cluster (they wipe it) and the benchmarks'.
TEST_DATABASE = "qonys_test"
BENCH_DATABASE = "qonys_bench"
DATABASES = (DATABASE, TEST_DATABASE, BENCH_DATABASE)


class CitusError(RuntimeError):
    """Citus cannot be built or started; the message says what is missing."""


def _log(msg: str) -> None:
    print(f"[qonys citus] {msg}", flush=True)


WHERE_TO_GET = (
    f"set {SOURCE_SETTING} to a folder holding {TARBALL} (the v{CITUS_VERSION} source release "
    "of citusdata/citus) and, for Debian's PostgreSQL 15.20, its pg15 patch (README, "
    "'The register and its traces on Citus')"
)


def source_dir() -> Path | None:
    """The folder ``QONYS_CITUS_SOURCE`` names, or None when unset."""
    value = os.environ.get(SOURCE_SETTING, "").strip()
    return Path(value).expanduser().resolve() if value else None


def source_available() -> bool:
    folder = source_dir()
    return folder is not None and (folder / TARBALL).is_file()


def missing_source_message() -> str:
    """One line: what is missing and what to set."""
    folder = source_dir()
    if folder is None:
        return f"no Citus source: {WHERE_TO_GET}"
    return f"no {TARBALL} in {SOURCE_SETTING}={folder}: {WHERE_TO_GET}"


def installed() -> bool:
    return INSTALLED_LIBRARY.exists()


def ensure_installed(data_dir: Path) -> None:
    """Citus in PostgreSQL's directories: copied from the cached build, built if none."""
    if installed():
        return
    if os.geteuid() != 0:
        raise CitusError("installing Citus into PostgreSQL's directories needs root")
    if not source_available():
        raise CitusError(missing_source_message())
    stage = data_dir / f"citus-{CITUS_VERSION}-{_source_hash()}-stage"
    if not (stage / INSTALLED_LIBRARY.relative_to("/")).exists():
        _build(data_dir, stage)
    _log(f"installing Citus {CITUS_VERSION} from {stage}")
    subprocess.run(["cp", "-a", f"{stage}/.", "/"], check=True)
    stack.restart_upgraded_cluster(data_dir)


def _source_hash() -> str:
    """The build cache's key: the tarball and the patches, hashed together."""
    folder = source_dir()
    assert folder is not None
    digest = hashlib.sha256()
    for path in (folder / TARBALL, *sorted(folder.glob("*.patch"))):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _build(data_dir: Path, stage: Path) -> None:
    folder = source_dir()
    assert folder is not None
    tarball = folder / TARBALL
    patches = sorted(folder.glob("*.patch"))
    missing = [p for p in BUILD_PACKAGES if not _package_installed(p)]
    if missing:
        _log(f"installing the build dependencies: {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
        # The server package was upgraded with its -dev package: run the new binaries.
        stack.restart_upgraded_cluster(data_dir)
    source = data_dir / "citus-src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(source)], check=True)
    tree = next(source.iterdir())
    log = data_dir / "citus-build.log"
    _log(f"building Citus {CITUS_VERSION} (about 2 minutes; log in {log})")
    with log.open("w") as out:
        for step in (
            *(["patch", "-p1", "-i", str(patch)] for patch in patches),
            ["./configure", "--without-libcurl"],
            ["make", f"-j{os.cpu_count() or 2}"],
            ["make", "install", f"DESTDIR={stage}"],
        ):
            done = subprocess.run(step, cwd=tree, stdout=out, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                raise CitusError(f"`{' '.join(step)}` failed; see {log}")
    shutil.rmtree(source, ignore_errors=True)


def _package_installed(name: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
    return "install ok installed" in out.stdout


@dataclass(frozen=True)
class Cluster:
    coordinator_port: int
    worker_ports: tuple[int, ...]
    url: str
    test_url: str


def node_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "citus" / name


def start_cluster(data_dir: Path, workers: int, base_port: int = BASE_PORT) -> Cluster:
    """A coordinator and ``workers`` workers, started and joined (safe to run twice)."""
    if workers < 1:
        raise CitusError("a Citus cluster needs at least one worker")
    ensure_installed(data_dir)
    password = generated_secret(data_dir / DB_PASSWORD_FILE)
    # Citus's own connections between nodes (adding nodes, its maintenance daemon) log in
    # as the superuser: over loopback, with a generated password (never trust).
    superuser = generated_secret(data_dir / "citus-superuser-password")
    # The runtime role's password is the one `qonys db upgrade` gives the role it creates.
    runtime = generated_secret(dbroles.password_file(data_dir))
    names = ["coordinator", *[f"worker{i}" for i in range(1, workers + 1)]]
    ports = [base_port + i for i in range(len(names))]
    for name, port in zip(names, ports, strict=True):
        node = node_dir(data_dir, name)
        stack.start_postgres(node, port, extra_settings={"shared_preload_libraries": "citus"})
        stack.bootstrap_databases(
            node, port, names=DATABASES, extensions=("citus", "postgis"), password_dir=data_dir
        )
        stack._psql(node / "pg-run", port, f"ALTER ROLE postgres PASSWORD '{superuser}'")
        # The runtime role exists on every node before its login is recorded (a fresh
        # cluster's `qonys db upgrade` then finds it; rights come with the migrations).
        if not stack._psql(
            node / "pg-run", port, f"SELECT 1 FROM pg_roles WHERE rolname = '{RUNTIME}'"
        ):
            stack._psql(
                node / "pg-run",
                port,
                f"CREATE ROLE {RUNTIME} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"PASSWORD '{runtime}'",
            )
        for database in DATABASES:
            for role, secret in (("postgres", superuser), ("qonys", password), (RUNTIME, runtime)):
                authorize(node / "pg-run", port, role, secret, database)
    coordinator = node_dir(data_dir, "coordinator") / "pg-run"
    stack._psql(
        coordinator,
        ports[0],
        f"ALTER DATABASE {TEST_DATABASE} SET citus.shard_count = {TEST_SHARD_COUNT}",
    )
    for database in DATABASES:
        stack._psql(
            coordinator,
            ports[0],
            f"SELECT citus_set_coordinator_host('127.0.0.1', {ports[0]})",
            db=database,
        )
        for port in ports[1:]:
            stack._psql(
                coordinator,
                ports[0],
                f"SELECT citus_add_node('127.0.0.1', {port}) WHERE NOT EXISTS ("
                f"SELECT 1 FROM pg_dist_node WHERE nodeport = {port})",
                db=database,
            )
    url = f"postgresql://qonys:{password}@127.0.0.1:{ports[0]}/{DATABASE}"
    return Cluster(ports[0], tuple(ports[1:]), url, stack.with_database(url, TEST_DATABASE))


def authorize(sockdir: Path, port: int, role: str, password: str, database: str) -> None:
    """How the nodes log in to each other as ``role`` (``pg_dist_authinfo``, all nodes)."""
    stack._psql(
        sockdir,
        port,
        "INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) "
        f"VALUES (0, '{role}', 'password={password}') "
        "ON CONFLICT (nodeid, rolename) DO UPDATE SET authinfo = EXCLUDED.authinfo",
        db=database,
    )


def stop_cluster(data_dir: Path) -> None:
    root = data_dir / "citus"
    if not root.exists():
        return
    for node in sorted(root.iterdir()):
        stack.stop_postgres(node)
