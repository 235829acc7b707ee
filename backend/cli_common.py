"""What every ``qonys`` command shares: settings that name a bad variable, a database."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterable
from typing import Any

import click

from backend.db import Database
from backend.services.access.tokens import Principal
from backend.settings import Settings, SettingsError


def settings() -> Settings:
    """The settings, or a one-line error naming the variable that cannot work."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def database(settings: Settings) -> Database:
    return Database(settings.database_url, pool_size=2)


def progress(items: Iterable[Any], label: str) -> Any:
    return click.progressbar(items, label=label, file=sys.stderr)


def operator() -> Principal:
    """Whoever runs a shell command: an administrator, audited by their login name."""
    return Principal(0, "admin", name=f"cli:{getpass.getuser()}")
