"""``qonys policy``: the legal numbers in force, and changing them from a given day."""

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
