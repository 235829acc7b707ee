"""The ``qonys`` command as installed: the app's commands (``backend.cli``) and the
operations ones kept here, outside the app's layers — ``services`` (PostgreSQL, Redis,
Citus), ``serve`` (gunicorn) and ``up`` (everything, supervised). The app never imports
this package (an import contract says so).
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import click

from backend import dbroles
from backend.cli import demo_load, load_reference, main, upgrade
from backend.cli_common import settings as _settings
from backend.settings import DB_PASSWORD_FILE, PROJECT_ROOT, Settings
from backend.web.session import secret_key
from ops import citus, stack, supervise


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
        if not citus.installed() and not citus.source_available():
            raise click.ClickException(citus.missing_source_message())
        try:
            cluster = citus.start_cluster(settings.data_dir, citus_workers)
        except citus.CitusError as exc:
            raise click.ClickException(str(exc)) from exc
        ports = ", ".join(str(p) for p in cluster.worker_ports)
        password_file = settings.data_dir / DB_PASSWORD_FILE
        click.echo(f"CITUS_DATABASE_URL={stack.masked(cluster.url)}  (workers on {ports})")
        click.echo(f"CITUS_TEST_DATABASE_URL={stack.masked(cluster.test_url)}")
        click.echo(
            "To run Qonys on the coordinator (*** is the password in "
            f"{password_file}):\n"
            f"  export DATABASE_URL={stack.masked(cluster.url)}\n"
            "  qonys db upgrade && qonys gis load-reference && qonys serve"
        )


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


# From bench.phones on 2 cores (4 keep-alive clients, one point per request):
# 1 worker x 4 threads 380 req/s, 2 x 2 280, 2 x 4 304, 4 x 2 190. At least two workers
# all the same: with one, its death was a 7-s outage of the API (issue 27); with two the
# other takes every new connection at once (tests/integration/test_fault_drills.py).
# Threads cover the database and Redis waits.
SERVE_THREADS = 4


def serve_workers() -> int:
    return max(2, (os.cpu_count() or 2) // 2)


@main.command(help="Run the API with gunicorn.")
@click.option("--port", default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--workers",
    type=int,
    default=serve_workers,
    help="Default: one per two CPU cores, at least two.",
)
@click.option("--threads", type=int, default=SERVE_THREADS, show_default=True)
def serve(port: int, host: str, workers: int, threads: int) -> None:
    _settings()  # a setting that cannot work stops here, before any worker starts
    argv = gunicorn_command(f"{host}:{port}", workers, threads)
    os.execvp(argv[0], argv)


def gunicorn_command(
    bind: str,
    workers: int,
    threads: int,
    access_log: str | None = "-",
    *extra: str,
    app: str = "backend.wsgi:app",
) -> list[str]:
    """The API as served: gunicorn with the token-redacting logger (benchmarks use it
    too, and ``bench.servers`` with an ``app`` of its own).

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
        # gunicorn's own line, with the worker's pid the app's log lines carry too
        "--access-logformat",
        '%(h)s %(l)s %(u)s %(t)s [%(p)s] "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"',
        "--logger-class",
        "backend.gunicorn_logging.RedactingLogger",
        "--control-socket",
        str(control_socket(_settings().data_dir, bind)),
        *extra,
        app,
    ]


def control_socket(data_dir: Path, bind: str) -> Path:
    """The control socket of the gunicorn instance bound to ``bind``."""
    run = data_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    return run / f"gunicorn-{re.sub(r'[^0-9A-Za-z.]+', '-', bind)}.ctl"


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
    qonys = [sys.executable, "-m", "ops.cli"]
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


def up_banner(
    base: str, ep: stack.Endpoints, settings: Settings, account: supervise.Account | None
) -> str:
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
