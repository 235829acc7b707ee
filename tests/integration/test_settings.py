"""Every setting comes from the environment, is checked at start-up, and can be shown."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields
from typing import Any

import pytest

from backend.settings import Settings, SettingsError, env_var
from tests import helpers as h


def test_every_field_can_be_set_from_the_environment() -> None:
    base = Settings()
    for item in fields(Settings):
        value = getattr(base, item.name)
        if isinstance(value, bool) or value is None:
            continue
        raw = str(value)
        loaded, sources = Settings.load({env_var(item.name): raw})
        assert getattr(loaded, item.name) == value, item.name
        assert sources[item.name] == f"environment {env_var(item.name)}"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("QONYS_NIGHT_START_HOUR", "24", "0-23"),
        ("QONYS_ALERT_DWELL_HOURS", "-1", "negative"),
        ("QONYS_DEVICE_RATE_LIMIT", "lots", "rate"),
        ("QONYS_TRACE_RETENTION_DAYS", "ninety", "not valid"),
        ("DATABASE_URL", "mysql://x", "postgresql"),
        # The statement bound as people (and scripts) mistype it: none, NaN, forever,
        # beyond what PostgreSQL's int of milliseconds holds.
        ("QONYS_DB_STATEMENT_TIMEOUT_S", "0", "more than 0"),
        ("QONYS_DB_STATEMENT_TIMEOUT_S", "nan", "more than 0"),
        ("QONYS_DB_STATEMENT_TIMEOUT_S", "inf", "at most 2,147,483"),
        ("QONYS_DB_STATEMENT_TIMEOUT_S", "3000000", "at most 2,147,483"),
    ],
)
def test_a_wrong_value_names_its_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=variable) as error:
        Settings.from_env({variable: value})
    assert says in str(error.value)


def test_a_wrong_value_stops_the_command_and_the_server(migrated: Any) -> None:
    shown = h.qonys("config", "show", env={"QONYS_NIGHT_END_HOUR": "25"})
    assert shown.returncode != 0
    assert shown.stderr.strip() == "Error: QONYS_NIGHT_END_HOUR: must be an hour 0-23"
    # The WSGI module gunicorn loads exits 3 (worker cannot boot) with the same line.
    server = subprocess.run(
        [sys.executable, "-c", "import backend.wsgi"],
        capture_output=True,
        text=True,
        env={**os.environ, "QONYS_NIGHT_START_HOUR": "24"},
        timeout=60,
        check=False,
    )
    assert server.returncode == 3
    assert server.stderr.strip().splitlines()[-1].startswith("qonys: QONYS_NIGHT_START_HOUR:")


def test_the_wsgi_module_freezes_the_apps_objects_out_of_the_collectors_walk() -> None:
    """Each worker's app objects are frozen once it is built: a phone request paid about
    0.03 ms of 0.24 in-process for full collections walking them (README, Speed)."""
    probe = (
        "import gc; before = gc.get_freeze_count(); import backend.wsgi; "
        "app = backend.wsgi.app; "
        "print(before, gc.get_freeze_count(), app.name, any(o is app for o in gc.get_objects()))"
    )
    server = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )
    assert server.returncode == 0, server.stderr
    before, frozen, name, seen = server.stdout.split()
    assert int(before) == 0
    assert int(frozen) > 100_000  # the app, its routes, schemas and models
    assert name == "backend"
    assert seen == "False"  # the app itself is frozen: it was built before the freeze


def test_config_show_prints_values_and_sources_without_passwords() -> None:
    shown = h.qonys(
        "config",
        "show",
        env={
            "QONYS_ALERT_DWELL_HOURS": "12",
            "DATABASE_URL": "postgresql://qonys:s3cret@127.0.0.1:5432/qonys",
        },
    )
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines()}
    assert set(lines) == {item.name for item in fields(Settings)}
    assert "12.0" in lines["alert_dwell_hours"]
    assert "[environment QONYS_ALERT_DWELL_HOURS;" in lines["alert_dwell_hours"]
    assert "[default; QONYS_NEAR_MAX_RADIUS_M]" in lines["near_max_radius_m"]
    assert "s3cret" not in shown.stdout and "qonys:***@" in lines["database_url"]
