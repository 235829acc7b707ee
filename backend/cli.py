"""The ``qonys`` command: services, migrations, reference data, demo, tokens, serve, worker."""

from __future__ import annotations

import os
import re
import signal
import sys
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from alembic import command
from alembic.config import Config

from backend import citus, clock, dbroles, stack, supervise
from backend.cli_access import device, token, traces, user
from backend.cli_common import database as _database
from backend.cli_common import progress as _progress
from backend.cli_common import settings as _settings
from backend.cli_policy import policy_group
from backend.db import Database
from backend.demo.load import load_demo
from backend.jobs.runner import run_worker
from backend.services import audit_chain
from backend.settings import PROJECT_ROOT, Settings, SettingsError, env_var
from backend.web.session import secret_key
from gis.districts import DistrictFileError
from gis.districts import import_districts as import_district_file
from gis.indicators import IndicatorFileError, read_indicators, upsert_indicators
from gis.reference import GEONAMES_ATTRIBUTION, REGIONS_ATTRIBUTION
from gis.reference import load_reference as load_reference_data


@click.group(help="Qonys — the digital migration register back end.")
def main() -> None:
    pass


for group in (token, device, traces, user, policy_group):
    main.add_command(group)


@main.command(help="Make sure PostGIS and Redis are reachable; start project-owned ones if not.")
@click.option("--stop", is_flag=True, help="Stop the project-owned PostgreSQL and Redis.")
@click.option(
    "--citus",
    "citus_workers",
    type=int,
    default=0,
    help="Also a Citus cluster: a coordinator and this many workers (built when missing).",
)
def services(stop: bool, citus_workers: int) -> None:
    settings = _settings()
    if stop:
        stack.stop_services(settings.data_dir)
        citus.stop_cluster(settings.data_dir)
        click.echo("stopped")
        return
    _ensure_services()
    if citus_workers:
        try:
            cluster = citus.start_cluster(settings.data_dir, citus_workers)
        except citus.CitusError as exc:
            raise click.ClickException(str(exc)) from exc
        ports = ", ".join(str(p) for p in cluster.worker_ports)
        click.echo(f"CITUS_DATABASE_URL={stack.masked(cluster.url)}  (workers on {ports})")
        click.echo(f"CITUS_TEST_DATABASE_URL={stack.masked(cluster.test_url)}")


def _ensure_services() -> stack.Endpoints:
    """Make the services reachable, print their URLs and return them."""
    try:
        ep = stack.ensure_services(_settings().data_dir)
    except stack.StackError as exc:
        raise click.ClickException(str(exc)) from exc
    # Passwords stay in their files (.data/db-password, .data/redis-password).
    click.echo(f"DATABASE_URL={stack.masked(ep.database_url)}")
    click.echo(f"TEST_DATABASE_URL={stack.masked(ep.test_database_url)}")
    click.echo(f"REDIS_URL={stack.masked(ep.redis_url)}")
    return ep


@main.group(help="Settings.")
def config() -> None:
    pass


@config.command("show", help="Every setting's effective value and where it came from.")
def config_show() -> None:
    try:
        settings, sources = Settings.load()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    width = max(len(item.name) for item in fields(settings))
    for item in fields(settings):
        value = _shown(getattr(settings, item.name))
        click.echo(f"{item.name:{width}}  {value}  [{sources[item.name]}; {env_var(item.name)}]")


def _shown(value: object) -> str:
    """A value as typed in the environment; a password inside a URL is masked."""
    if isinstance(value, tuple):
        return ",".join(f"{v[0]}={v[1]:g}" if isinstance(v, tuple) else str(v) for v in value)
    return stack.masked(str(value))


@main.group(help="Database schema (Alembic).")
def db() -> None:
    pass


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def migrate(settings: Settings, revision: str = "head") -> str:
    """Migrate as the owner, then set up the runtime role the app connects as; returns
    that role's name."""
    command.upgrade(alembic_config(settings.database_url), revision)
    database = Database(settings.database_url, pool_size=1)
    try:
        with database.engine.begin() as conn:
            return dbroles.ensure_runtime_role(conn, settings.data_dir, settings.app_database_url)
    finally:
        database.dispose()


@db.command(help="Migrate the database to the newest schema and set up the runtime role.")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    try:
        role = migrate(_settings(), revision)
    except dbroles.RoleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"database at {revision}; the API and worker connect as {role}")


@db.command(help="Migrate the database down to REVISION (e.g. base).")
@click.argument("revision")
@click.option("--force", is_flag=True, help="Allow dropping the audit log (below 0001).")
def downgrade(revision: str, force: bool) -> None:
    cfg = alembic_config(_settings().database_url)
    cfg.attributes["force_audit_drop"] = force
    try:
        command.downgrade(cfg, revision)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"database at {revision}")


@main.group(help="The audit trail: seals and their verification.")
def audit() -> None:
    pass


@audit.command("seal", help="Seal the settled rows of the audit log now.")
def audit_seal() -> None:
    database = _database(_settings())
    with database.transaction() as session:
        click.echo(f"sealed {audit_chain.seal_all(session)} rows")


@audit.command("verify", help="Recompute every row hash and seal; exit 1 at the first break.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Rows from this day on.")
def audit_verify(since: datetime | None) -> None:
    database = _database(_settings())
    with database.transaction() as session:
        checked, breaks = audit_chain.verify(session, since.date() if since else None)
    if breaks:
        for found in breaks:
            click.echo(f"broken: {found}", err=True)
        raise click.ClickException(f"audit trail broken at {breaks[0]}")
    click.echo(f"audit trail intact: {checked} rows checked")


@main.group(help="Reference geography.")
def gis() -> None:
    pass


@gis.command("load-reference", help="Load the 20 regions and GeoNames settlements, by KATO.")
def load_reference() -> None:
    settings = _settings()
    database = _database(settings)
    counts = load_reference_data(database.engine)
    click.echo(f"regions: {counts['regions']}, settlements: {counts['settlements']}")
    click.echo(f"{REGIONS_ATTRIBUTION}\n{GEONAMES_ATTRIBUTION}")


@gis.command(
    "import-districts", help="Import districts from a GeoJSON or shapefile with KATO codes."
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_districts(file: Path) -> None:
    database = _database(_settings())
    try:
        with database.engine.begin() as conn:
            count = import_district_file(conn, file)
    except DistrictFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"districts: {count}")


@gis.command("import-indicators", help="Import settlement indicators (CSV keyed by KATO).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default=None, help="Source named on the map (default: file name).")
def import_indicators(file: Path, source: str | None) -> None:
    database = _database(_settings())
    try:
        rows = read_indicators(file, source or file.name, clock.today())
        with database.engine.begin() as conn:
            count = upsert_indicators(conn, rows)
    except IndicatorFileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"settlement indicators: {count}")


@main.group(help="Demonstration data, clearly marked as such.")
def demo() -> None:
    pass


@demo.command("load", help="Fill a small believable world of demo data (safe to run twice).")
def demo_load() -> None:
    settings = _settings()
    database = _database(settings)
    summary = load_demo(database, settings, progress=_progress)
    for key, value in summary.items():
        click.echo(f"{key}: {value}")


# Chosen from bench.phones on 2 cores (4 keep-alive clients, one point per request):
# 1 worker x 4 threads 380 req/s, 2 x 2 280, 2 x 4 304, 4 x 2 190. PostgreSQL and Redis
# share the machine, so one worker per two cores leaves them a core; threads cover the
# database and Redis waits.
SERVE_THREADS = 4


def serve_workers() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


@main.command(help="Run the API with gunicorn.")
@click.option("--port", default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--workers", type=int, default=serve_workers, help="Default: one per two CPU cores.")
@click.option("--threads", type=int, default=SERVE_THREADS, show_default=True)
def serve(port: int, host: str, workers: int, threads: int) -> None:
    _settings()  # a setting that cannot work stops here, before any worker starts
    argv = gunicorn_command(f"{host}:{port}", workers, threads)
    os.execvp(argv[0], argv)


def gunicorn_command(
    bind: str, workers: int, threads: int, access_log: str | None = "-", *extra: str
) -> list[str]:
    """The API as served: gunicorn with the token-redacting logger (benchmarks use it too).

    Each instance has a control socket of its own, named after its address (gunicorn's
    default is one per user, which a second instance on the machine would take over).
    """
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        bind,
        *(("--access-logfile", access_log) if access_log else ()),
        "--logger-class",
        "backend.gunicorn_logging.RedactingLogger",
        "--control-socket",
        str(control_socket(_settings().data_dir, bind)),
        *extra,
        "backend.wsgi:app",
    ]


def control_socket(data_dir: Path, bind: str) -> Path:
    """The control socket of the gunicorn instance bound to ``bind``."""
    run = data_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    return run / f"gunicorn-{re.sub(r'[^0-9A-Za-z.]+', '-', bind)}.ctl"


@main.command(help="Run an RQ worker (with the periodic-job scheduler).")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
@click.option(
    "--tick", type=float, default=30.0, show_default=True, help="Seconds between scheduler rounds."
)
def worker(burst: bool, tick: float) -> None:
    run_worker(_settings(), burst=burst, tick_s=tick)


@main.command(
    help="Everything in order: services, migrations, reference data, demo, API and worker."
)
@click.option("--port", default=8000, show_default=True)
def up(port: int) -> None:
    ctx = click.get_current_context()
    ep = _ensure_services()
    os.environ.setdefault("DATABASE_URL", ep.database_url)
    os.environ.setdefault("REDIS_URL", ep.redis_url)
    ctx.invoke(upgrade, revision="head")
    ctx.invoke(load_reference)
    ctx.invoke(demo_load)
    settings = _settings()
    # The children never run as root; they get no owner password (they connect as the
    # runtime role, whose password file is theirs).
    try:
        account = runtime_account(settings)
    except supervise.SuperviseError as exc:
        raise click.ClickException(str(exc)) from exc
    env = dict(os.environ, DATABASE_URL=stack.without_password(settings.database_url))
    qonys = [sys.executable, "-m", "backend.cli"]
    supervisor = supervise.Supervisor(
        [("API", [*qonys, "serve", "--port", str(port)]), ("worker", [*qonys, "worker"])],
        account=account,
        env=env,
        cwd=PROJECT_ROOT,
    )
    click.echo(up_banner(f"http://127.0.0.1:{port}", ep, settings, account))
    # Ctrl-C, or SIGTERM from a supervisor of ours, stops both children cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: supervisor.stop.set())
    supervisor.run()


def up_banner(base: str, ep: Any, settings: Settings, account: supervise.Account | None) -> str:
    """What ``make run`` prints once everything is up: every page, where the demo
    accounts and tokens are, and what Ctrl-C leaves running."""
    pages = (
        ("sign in", "/login"),
        ("home (alerts, person lookup)", "/"),
        ("field officer", "/officer"),
        ("employer", "/employer"),
        ("administration", "/admin"),
        ("dashboard", "/dashboard"),
        ("monitoring map", "/maps/monitoring"),
        ("settlement map", "/maps/kandas-settlement"),
        ("OGC API", "/ogc/"),
        ("API docs", "/api/docs"),
        ("health", "/health"),
    )
    lines = [f"  {name:<29}{base}{path}" for name, path in pages]
    return (
        "\nQonys is running:\n"
        + "\n".join(lines)
        + f"\n  demo browser accounts in     {settings.data_dir / 'demo-users.txt'}"
        + f"\n  demo API tokens in           {settings.data_dir / 'demo-tokens.txt'}"
        + f"\n  database {stack.masked(ep.database_url)}\n  queue    {stack.masked(ep.redis_url)}"
        + f"\n  API and worker run as {account.name if account else 'you'},"
        + " restarted when they exit"
        + "\nCtrl-C stops the API and the worker only. The project's PostgreSQL and Redis"
        + "\n(under .data/) keep running in the background for the next start; stop them with"
        + "\n  .venv/bin/qonys services --stop\n"
    )


def runtime_account(settings: Settings) -> supervise.Account | None:
    """The account the API and worker run as (None: the caller's, who is not root), with
    the data folder's runtime files handed over to it."""
    account = supervise.runtime_account(settings.run_as)
    if account is not None:
        secret_key(settings)  # generated now, then handed over
        supervise.hand_over(
            account,
            settings.data_dir,
            files=("secret_key", dbroles.PASSWORD_FILE),
            directories=("run",),
        )
        supervise.check_can_run(account, sys.executable, PROJECT_ROOT)
    return account


if __name__ == "__main__":
    main()
