"""``qonys token``, ``qonys device`` and ``qonys traces``: who may call, and what phones sent."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import click
import redis
from sqlalchemy.orm import Session

from backend.cli_common import database as _database
from backend.cli_common import operator as _operator
from backend.cli_common import settings as _settings
from backend.errors import NotFound, QonysError
from backend.models import User
from backend.models.registries import (
    ALERT_DELIVERIES,
    LANGUAGES,
    ROLES,
    STAFF_ROLES,
    TOTP_REQUIRED_ROLES,
)
from backend.services.access import accounts, audit
from backend.services.access.tokens import (
    announce_revocation,
    create_token,
    find_token,
    list_tokens,
    owner_of_account,
    revoke_token,
)
from backend.services.tracking import devices
from backend.services.tracking.trace_points import point_from_batch
from backend.services.tracking.traces import ingest
from gis.gpx import read_gpx


@click.group(help="API tokens.")
def token() -> None:
    pass


@token.command("create", help="Create a token; the secret is printed once, on the last line.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(ROLES),
)
@click.option("--employer", "employer_bin", help="BIN the employer token is bound to.")
@click.option("--person", "person_id", type=int, help="Person id a device token is bound to.")
@click.option("--region", "region_kato", help="KATO of the region an officer is limited to.")
@click.option("--label", help="Who or what holds the token.")
@click.option("--expires", "expires_days", type=int, help="Days the token stays valid.")
@click.option(
    "--owner",
    "owner_username",
    help="Account (username) of the person the token belongs to; default: you, the operator.",
)
def token_create(
    role: str,
    employer_bin: str | None,
    person_id: int | None,
    region_kato: str | None,
    label: str | None,
    expires_days: int | None,
    owner_username: str | None,
) -> None:

    database = _database(_settings())
    operator = _operator()
    try:
        with database.transaction() as session:
            owner = owner_of_account(session, owner_username) if owner_username else None
            secret, row = create_token(
                session,
                role,
                employer_bin,
                person_id,
                region_kato,
                label,
                expires_days,
                owner=owner or operator.person,
            )
            # The owner is on the token's row (api_tokens.owner), shown by `token list`.
            audit.record(
                session, operator, "tokens.create", [person_id], f"token {row.id} ({role})"
            )
    except QonysError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(
        f"token {row.id} for role {role}, owned by {row.owner}, created; it is shown only once:",
        err=True,
    )
    click.echo(secret)


@token.command("list", help="List tokens of every role (never a secret).")
@click.option("--role", type=click.Choice(ROLES))
def token_list(role: str | None) -> None:
    with _database(_settings()).transaction() as session:
        rows = list_tokens(session, role)
    click.echo(
        f"{'id':>5}  {'role':8}  {'state':8}  {'scope':22}  {'last contact':25}  refused  "
        "owner / label"
    )
    for r in rows:
        t = r.token
        scope = f"person {t.person_id}" if t.person_id else t.employer_bin or t.region_kato
        seen = t.last_seen_at.isoformat(timespec="seconds") if t.last_seen_at else "-"
        click.echo(
            f"{t.id:>5}  {t.role:8}  {r.state:8}  {scope or '-':22}  {seen:25}  "
            f"{r.refusals:>7}  {t.owner} / {t.label or ''}"
        )


@token.command("revoke", help="Revoke a token by the id `token list` shows, or by the token.")
@click.argument("id_or_token")
def token_revoke(id_or_token: str) -> None:
    settings = _settings()
    operator = _operator()
    try:
        with _database(settings).transaction() as session:
            row = revoke_token(session, find_token(session, id_or_token))
            audit.record(session, operator, "tokens.revoke", [row.person_id], f"token {row.id}")
            token_id, digest = row.id, row.token_hash
    except QonysError as exc:
        raise click.ClickException(exc.detail) from exc
    announce_revocation(redis.Redis.from_url(settings.redis_url, socket_timeout=2), digest)
    click.echo(f"token {token_id} revoked")


@click.group(help="Monitored persons' phones.")
def device() -> None:
    pass


@device.command(
    "enrol",
    help="A device token, QR codes for Traccar Client and OwnTracks, and the URLs to paste into "
    "OsmAnd and GPSLogger.",
)
@click.option("--person", "person_id", type=int, required=True, help="Person id of the phone.")
@click.option("--expires", "expires_days", type=int, help="Days the token stays valid.")
@click.option("--encrypt", is_flag=True, help="Give OwnTracks a payload encryption key.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the QR files (default: .data/devices).",
)
def device_enrol(
    person_id: int, expires_days: int | None, encrypt: bool, out_dir: Path | None
) -> None:

    settings = _settings()
    operator = _operator()
    days = expires_days if expires_days is not None else (settings.device_token_days or None)
    try:
        with _database(settings).transaction() as session:
            enrolment = devices.enrol(
                session, person_id, settings.public_url, days, encrypt, owner=operator.person
            )
            audit.record(session, operator, "devices.enrol", [person_id], "cli enrolment")
    except QonysError as exc:
        raise click.ClickException(exc.detail) from exc
    if devices.loopback_url(settings.public_url):
        click.secho(
            f"WARNING: the QR codes point at {settings.public_url}, this machine only: a real "
            "phone would send its points to itself. Set QONYS_PUBLIC_URL to the address "
            "phones reach (for example https://qonys.example.kz) and enrol again.",
            fg="red",
            bold=True,
            err=True,
        )
    paths = devices.write_qr_codes(enrolment, out_dir or settings.data_dir / "devices")
    click.echo(f"device token {enrolment.token_id} for person {person_id}", err=True)
    for link in enrolment.links:
        if not link.as_qr:
            click.echo(f"{link.label}: {link.value}", err=True)
    for path in paths:
        click.echo(str(path))
    click.echo(enrolment.token)


@click.group(help="Movement traces.")
def traces() -> None:
    pass


@traces.command("import-gpx", help="Import a GPX track collected offline for a person.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--person", "person_id", type=int, required=True, help="Person id the track is of.")
def import_gpx(file: Path, person_id: int) -> None:
    settings = _settings()
    database = _database(settings)
    points = list(read_gpx(file))
    operator = _operator()
    try:
        with database.transaction() as session:
            result = ingest(
                session, points, partial(point_from_batch, person_id=person_id), "gpx", settings
            )
            audit.record(session, operator, "traces.ingest.gpx", [person_id], f"GPX {file.name}")
    except QonysError as exc:  # a day of the track being closed (day_closing): try later
        raise click.ClickException(exc.detail) from exc
    click.echo(f"accepted: {result.accepted}\nduplicates: {result.duplicates}")
    for rejected in result.rejected[:20]:
        click.echo(f"rejected point {rejected['index']}: {rejected['reason']}", err=True)


@click.group(help="Staff accounts for browser sign-in.")
def user() -> None:
    pass


@user.command("create", help="Create an account; the password is read from standard input.")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option("--region", "region_kato", help="KATO of the region an officer is limited to.")
@click.option("--employer", "employer_bin", help="BIN an employer account is bound to.")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
@click.option("--email", help="Address notifications are sent to (personal data, audited).")
@click.option("--language", type=click.Choice(LANGUAGES), default="ru", show_default=True)
@click.option(
    "--exist-ok",
    is_flag=True,
    help="An account of that name and role already there is left as it is (exit 0), so a"
    " script may run twice; one of another role is still an error.",
)
def user_create(
    username: str,
    role: str,
    region_kato: str | None,
    employer_bin: str | None,
    password_stdin: bool,
    email: str | None,
    language: str,
    exist_ok: bool,
) -> None:
    password = sys.stdin.readline().rstrip("\n")
    operator = _operator()
    try:
        with _database(_settings()).transaction() as session:
            if exist_ok and (existing := _existing_user(session, username)) is not None:
                if existing.role != role:
                    raise click.ClickException(
                        f"user {username} already exists with role {existing.role}, not {role}"
                    )
                click.echo(f"user {username} ({role}) already exists: left as it is")
                return
            account = accounts.create_user(
                session, username, role, password, region_kato, employer_bin, email, language
            )
            audit.record(session, operator, "users.create", [None], f"user {account.username}")
    except QonysError as exc:
        raise click.ClickException(exc.detail) from exc
    second = "required at first sign-in" if role in TOTP_REQUIRED_ROLES else "optional"
    click.echo(f"user {account.username} ({role}) created; second factor {second}")


def _existing_user(session: Session, username: str) -> User | None:
    try:
        return accounts.find_user(session, username)
    except NotFound:
        return None


@user.command("list", help="Every account: role, scope, second factor, state.")
def user_list() -> None:
    with _database(_settings()).transaction() as session:
        rows = accounts.list_users(session)
        click.echo(f"{'username':24}  {'role':8}  {'scope':12}  {'totp':4}  state")
        for u in rows:
            scope = u.region_kato or u.employer_bin or "-"
            state = "disabled" if u.disabled else "active"
            click.echo(
                f"{u.username:24}  {u.role:8}  {scope:12}  "
                f"{'yes' if u.totp_confirmed else 'no':4}  {state}"
            )


@user.command("disable", help="Stop an account from signing in (its sessions end too).")
@click.argument("username")
def user_disable(username: str) -> None:
    _account_change(username, accounts.disable_user, "users.disable", "disabled")


@user.command("reset-totp", help="Forget the second factor; a new one is enrolled at sign-in.")
@click.argument("username")
def user_reset_totp(username: str) -> None:
    _account_change(username, accounts.reset_totp, "users.reset_totp", "must enrol TOTP again")


@user.command("set-password", help="A new password, read from standard input; every session ends.")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
def user_set_password(username: str, password_stdin: bool) -> None:
    password = sys.stdin.readline().rstrip("\n")
    _account_change(
        username,
        partial(accounts.set_password, password=password),
        "users.set_password",
        "has a new password; its sessions ended",
    )


@user.command("notify", help="Set an account's e-mail, language and how alerts reach it.")
@click.argument("username")
@click.option("--email", help="Address for notifications ('' removes it).")
@click.option("--language", type=click.Choice(LANGUAGES))
@click.option("--alerts", "alert_delivery", type=click.Choice(ALERT_DELIVERIES))
def user_notify(
    username: str, email: str | None, language: str | None, alert_delivery: str | None
) -> None:
    operator = _operator()
    try:
        with _database(_settings()).transaction() as session:
            accounts.set_notifications(session, username, email, language, alert_delivery)
            audit.record(session, operator, "users.notifications", [None], f"user {username}")
    except QonysError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"user {username}: notifications set")


def _account_change(username: str, change: Any, action: str, said: str) -> None:
    operator = _operator()
    try:
        with _database(_settings()).transaction() as session:
            change(session, username)
            audit.record(session, operator, action, [None], f"user {username}")
    except QonysError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"user {username} {said}")
