"""Settings read from the environment once, when the app or a command starts.

Operating settings only: numbers that change by law (deadlines, support amounts,
designated regions, targets) are policy parameters with the day they take effect
(``backend.services.policy``), never settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from limits import parse_many

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_PG_PORT = 54329
DEFAULT_REDIS_PORT = 63799


def default_database_url() -> str:
    return f"postgresql://qonys:qonys@127.0.0.1:{DEFAULT_PG_PORT}/qonys"


def default_redis_url() -> str:
    return f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/0"


@dataclass(frozen=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    redis_url: str = field(default_factory=default_redis_url)
    data_dir: Path = PROJECT_ROOT / ".data"
    queue_name: str = "qonys"
    # Largest accepted request body; bigger ones get 413.
    max_body_bytes: int = 16 * 1024 * 1024
    # Largest radius an officer may ask for in registrations/near.
    near_max_radius_m: int = 5000
    # Movement traces (issue: traces at national scale).
    trace_retention_days: int = 90
    trace_future_skew_s: int = 300
    trace_max_accuracy_m: float = 100_000.0
    # Fixes less precise than this are kept, flagged, and ignored by region alerts.
    trace_poor_accuracy_m: float = 1000.0
    trace_max_speed_mps: float = 150.0
    # Phones: a clock this far ahead is flagged; beyond the tolerance the point is refused.
    trace_clock_skew_flag_s: int = 60
    trace_clock_skew_tolerance_s: int = 3600
    # Phones: how much of a refused request is kept for the administrators to read.
    refusal_raw_max_chars: int = 2000
    # Phones: device uploads are audited, and last contact written, once per window.
    device_audit_window_s: float = 60.0
    device_contact_window_s: float = 60.0
    # A verified token is trusted this long without a lookup, while revocations are heard.
    token_cache_s: float = 30.0
    # Rate limits (flask-limiter notation) per device token on the phone endpoints, where
    # overflow is recorded and answered 2xx, and per token on the batch API (429).
    device_rate_limit: str = "120/minute"
    batch_rate_limit: str = "120/minute"
    # Days an enrolled device token stays valid unless given; 0 = no expiry.
    device_token_days: int = 365
    # Public address the phones reach the API at (for enrolment QR codes).
    public_url: str = "http://127.0.0.1:8000"
    trace_max_points: int = 5000
    trace_partitions_ahead_days: int = 7
    # Alerts: dwell before "left region" fires, silence, residence distance, night hours.
    alert_dwell_hours: float = 24.0
    residence_mismatch_km: float = 5.0
    residence_lookback_days: int = 14
    residence_min_nights: int = 3
    night_start_hour: int = 22
    night_end_hour: int = 6
    # Stays: where a person stayed at least this long within this radius.
    stay_radius_m: float = 250.0
    stay_min_minutes: int = 30
    track_max_days: int = 31
    # Monitoring: hexagon edge in Web Mercator metres (about 12 km on the ground at 50° N
    # for 20,000), and k — a cell with fewer persons (or checks) is not shown.
    monitoring_cell_m: float = 20_000.0
    monitoring_min_persons: int = 5
    # Optional base tiles for maps (an internal tile server); none by default (offline).
    map_tiles_url: str | None = None
    # Browser sign-in: sessions end after this much idleness, and at the latest after
    # the absolute lifetime; failed passwords in a row that lock the account, and for how
    # long; cookies marked Secure (set true whenever the site is served over HTTPS).
    session_idle_minutes: float = 15.0
    session_absolute_hours: int = 8
    login_max_failures: int = 5
    login_lock_minutes: int = 15
    session_cookie_secure: bool = False
    # Signs session cookies; generated into data_dir/secret_key when not given.
    secret_key: str | None = None
    testing: bool = False

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            name, message = problems[0]
            raise SettingsError(f"{env_var(name)}: {message}")

    def problems(self) -> list[tuple[str, str]]:
        """Every field whose value cannot work, with why (empty when all is well)."""
        found: list[tuple[str, str]] = []
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                found.append((item.name, f"must not be negative (got {value})"))
        for name in ("night_start_hour", "night_end_hour"):
            if not 0 <= getattr(self, name) <= 23:
                found.append((name, "must be an hour 0-23"))
        for name in ("device_rate_limit", "batch_rate_limit"):
            try:
                parse_many(getattr(self, name))
            except ValueError:
                found.append((name, "must be a rate such as 120/minute"))
        if not self.database_url.startswith(("postgresql://", "postgresql+psycopg2://")):
            found.append(("database_url", "must be a postgresql:// URL"))
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            found.append(("redis_url", "must be a redis:// URL"))
        return found

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment: ``QONYS_<FIELD>`` for every field, plus the two URLs.

        A value that does not parse, or cannot work, stops the process with a message
        naming the variable.
        """
        return cls.load(env, **overrides)[0]

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, **overrides: Any
    ) -> tuple[Settings, dict[str, str]]:
        """The settings and, for each field, where its value came from."""
        env = dict(os.environ if env is None else env)
        base = cls()
        values: dict[str, Any] = {}
        sources = {item.name: "default" for item in fields(cls)}
        for item in fields(cls):
            var = env_var(item.name)
            if env.get(var):
                values[item.name] = _convert(var, env[var], getattr(base, item.name))
                sources[item.name] = f"environment {var}"
        for name, value in overrides.items():
            values[name] = value
            sources[name] = "given"
        return replace(base, **values), sources


# Fields read from a variable of their own name rather than QONYS_<FIELD>.
PLAIN_VARIABLES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}


def env_var(name: str) -> str:
    """The environment variable that sets field ``name``."""
    return PLAIN_VARIABLES.get(name, "QONYS_" + name.upper())


class SettingsError(ValueError):
    """A setting from the environment that cannot be used; names the variable."""


def _convert(var: str, raw: str, default: object) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError("expected true or false")
            return raw.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise SettingsError(f"{var}={raw!r} is not valid: {exc}") from exc
