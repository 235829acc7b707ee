"""``qonys policy``: the legal numbers in force, and changing them from a given day;
``qonys quota``: the regional quotas, for a year or a medium-term period (seed 004 p. 4)."""

from __future__ import annotations

import json
from datetime import datetime

import click

from backend import clock
from backend.cli_common import database, operator, settings
from backend.errors import QonysError
from backend.models.registries import POLICY_SOURCES
from backend.services import policy
from backend.services.access import audit
from backend.services.settlement import quotas


@click.group("policy", help="Policy parameters: legal numbers with the day they take effect.")
def policy_group() -> None:
    pass


@policy_group.command(
    "show",
    help="Every parameter (or NAME) in force on a day with its kind of source (seed, statute, "
    "assumption) and citation, its history, and the open admin alerts of missing values.",
)
@click.argument("name", required=False)
@click.option("--on", "day", type=click.DateTime(["%Y-%m-%d"]), help="Day (default today).")
def show(name: str | None, day: datetime | None) -> None:
    on = day.date() if day else clock.today()
    db = database(settings())
    names = [name] if name else list(policy.PARAMETERS)
    try:
        with db.transaction() as session:
            for item in names:
                spec = policy.spec(item)
                row = policy.in_force(session, item, on)
                shown = "(not in force)" if row is None else json.dumps(row.value)
                origin = (
                    ""
                    if row is None
                    else f"  from {row.effective_from}, {row.source}: {row.reference or '-'}"
                )
                click.echo(f"{item} = {shown} {spec.unit}{origin}")
                if name:
                    click.echo(f"  {spec.description} (docs/domain.md {spec.rule})")
                    for entry in policy.history(session, item):
                        click.echo(
                            f"  {entry.effective_from}  {json.dumps(entry.value)}  {entry.source}"
                            f"  {entry.reference or ''}  set by {entry.set_by}"
                        )
            for gap in policy.open_gaps(session):
                click.echo(
                    f"ALERT: no value of {gap.name} in force on {gap.day} "
                    f"(job {gap.job}, since {gap.first_seen:%Y-%m-%d %H:%M})"
                )
    except QonysError as exc:
        raise click.ClickException(str(exc)) from exc


@policy_group.command("set", help="Set NAME to VALUE (JSON, or KATO codes a,b,c) from --from.")
@click.argument("name")
@click.argument("value")
@click.option("--from", "start", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option(
    "--source", type=click.Choice(POLICY_SOURCES), default="assumption", show_default=True
)
@click.option("--reference", help="The act or report the value comes from.")
def set_(name: str, value: str, start: datetime, source: str, reference: str | None) -> None:
    effective = start.date()
    db = database(settings())
    who = operator()
    try:
        with db.transaction() as session:
            parsed = policy.parse(name, value)
            row, before = policy.set_value(
                session, name, parsed, effective, source, reference, who.actor
            )
            audit.record(session, who, "policy.set", [None], policy.change_note(row, before))
    except QonysError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{name} = {json.dumps(parsed)} from {effective} ({source})")


@click.group("quota", help="Regional quotas of kandas and resettlers, for a year or a period.")
def quota_group() -> None:
    pass


def _fill_line(fill: quotas.QuotaFill) -> str:
    parts = ", ".join(f"{k} {fill.fill[k]}/{fill.limits[k]}" for k in fill.limits)
    return f"{fill.region_kato}  {fill.period}  {parts}"


@quota_group.command(
    "set",
    help="Set REGION's quota (people) for YEAR, or with --through for the medium-term period "
    "YEAR..THROUGH, counted as one (seed 004 p. 4).",
)
@click.argument("region_kato")
@click.argument("year", type=int)
@click.option("--through", "through_year", type=int, help="Last year of a medium-term period.")
@click.option("--kandas", type=click.IntRange(0, 1_000_000), required=True)
@click.option("--resettlers", type=click.IntRange(0, 1_000_000), required=True)
def quota_set(
    region_kato: str, year: int, through_year: int | None, kandas: int, resettlers: int
) -> None:
    db = database(settings())
    who = operator()
    try:
        with db.transaction() as session:
            fill = quotas.set_quota(session, year, region_kato, kandas, resettlers, through_year)
            audit.record(session, who, "quota.set", [None], f"{fill.period}/{region_kato}")
    except QonysError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_fill_line(fill))


@quota_group.command(
    "show", help="Each region's quota in force in YEAR (its period) with the period's fill."
)
@click.argument("year", type=int)
@click.option("--region", "region_kato", help="One region's KATO code.")
def quota_show(year: int, region_kato: str | None) -> None:
    db = database(settings())
    try:
        with db.transaction() as session:
            if region_kato:
                fills = [quotas.quota_fill(session, year, region_kato)]
            else:
                quotas.check_year(year)
                fills = sorted(quotas.quota_fills(session, year).values(), key=_kato)
    except QonysError as exc:
        raise click.ClickException(str(exc)) from exc
    for fill in fills:
        click.echo(_fill_line(fill) if fill.set else f"{fill.region_kato}  {year}  (no quota)")


def _kato(fill: quotas.QuotaFill) -> str:
    return fill.region_kato
