"""``qonys credentials``: the signing keys and the status lists."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from backend.cli_common import database as _database
from backend.cli_common import settings as _settings
from backend.services.credentials import credential_keys, status_lists


@click.group("credentials", help="Verifiable credentials: signing keys, status lists.")
def credentials_group() -> None:
    pass


def _when(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC") if epoch else "-"


@credentials_group.command("keys", help="The key ring: which key signs, which still verify.")
def keys() -> None:
    settings = _settings()
    published = {k["kid"] for k in credential_keys.public_jwks(settings)["keys"]}
    ring = credential_keys.load_ring(settings)
    for item in ring:
        role = "signs" if item is ring[-1] else "verifies" if item.kid in published else "expired"
        click.echo(
            f"{item.kid}  created {_when(item.created)}  retired {_when(item.retired)}  {role}"
        )


@credentials_group.command(
    "rotate-key", help="A new key signs from now on; the old ones keep verifying (grace days)."
)
def rotate_key() -> None:
    settings = _settings()
    try:
        key = credential_keys.rotate(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"new signing key {key.kid}; retired keys verify for "
        f"{settings.credential_key_grace_days} days"
    )


@credentials_group.command("publish", help="Republish the status lists now (the job does it).")
def publish() -> None:
    settings = _settings()
    with _database(settings).transaction() as session:
        for item in status_lists.publish(session, settings):
            state = "changed" if item.changed else "unchanged"
            click.echo(
                f"{item.name}: {item.entries} entries, {item.compressed_bytes} bytes, {state}"
            )
