"""The app's commands: migrations, reference data, demo, tokens, users, policy, audit and
the worker. The ``qonys`` command adds the operations ones (services, serve, up) from
``ops.cli``; nothing here starts or installs services."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path

import click
from alembic import command
from alembic.config import Config

from backend import clock, dbroles
from backend.cli_access import device, token, traces, user
from backend.cli_common import database as _database
from backend.cli_common import progress as _progress
from backend.cli_common import settings as _settings
from backend.cli_credentials import credentials_group
from backend.cli_policy import policy_group, quota_group
from backend.db import Database
from backend.demo.load import load_demo
from backend.jobs.runner import run_worker
from backend.services.access import audit_chain
from backend.settings import PROJECT_ROOT, Settings, SettingsError, env_var, masked
from gis.districts import DistrictFileError
from gis.districts import import_districts as import_district_file
from gis.reference import GEONAMES_ATTRIBUTION, REGIONS_ATTRIBUTION
from gis.reference import load_reference as load_reference_data
from gis.settlement_inputs import IndicatorFileError, read_indicators, upsert_indicators
from gis.settlement_names import NAMES_ATTRIBUTION


@click.group(help="Qonys — the digital migration register back end.")
def main() -> None:
    pass


for group in (token, device, traces, user, policy_group, quota_group, credentials_group):
    main.add_command(group)


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
    return masked(str(value))


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
    click.echo(
        f"regions: {counts['regions']}, settlements: {counts['settlements']}"
        f" ({counts['settlement_names']} with Russian or Kazakh names)"
    )
    click.echo(f"{REGIONS_ATTRIBUTION}\n{GEONAMES_ATTRIBUTION}\n{NAMES_ATTRIBUTION}")


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


@main.command(
    help="Run an RQ worker, with the periodic-job scheduler and, in a process beside it, "
    "the worker of the long maintenance jobs."
)
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
@click.option(
    "--tick", type=float, default=30.0, show_default=True, help="Seconds between scheduler rounds."
)
@click.option(
    "--maintenance",
    is_flag=True,
    help="Only the worker of the long maintenance jobs (what `qonys worker` starts beside it).",
)
def worker(burst: bool, tick: float, maintenance: bool) -> None:
    run_worker(_settings(), burst=burst, tick_s=tick, maintenance=maintenance)


if __name__ == "__main__":
    main()
