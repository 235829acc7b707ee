"""Shared bench helpers: a migrated bench database with reference geography."""

from __future__ import annotations

import os
import statistics
from typing import Any

from backend.settings import Settings
from ops import stack


def bench_database_url() -> str:
    """``BENCH_DATABASE_URL`` or ``qonys_bench`` beside the app database (never the app's)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    data_dir = stack.project_data_dir()
    endpoints = stack.ensure_services(data_dir, need_test_db=False)
    return stack.with_database(endpoints.database_url, "qonys_bench")


def bench_settings(url: str, **values: Any) -> Settings:
    """Settings for the bench database, with the services' folder the run uses: a bench
    run from another checkout must not mint (and set) a password of its own for the
    runtime role the main checkout's app signs in with."""
    return Settings(database_url=url, data_dir=stack.project_data_dir(), **values)


def redis_url() -> str:
    data_dir = stack.project_data_dir()
    return stack.ensure_services(data_dir, need_test_db=False).redis_url


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def describe(latencies_ms: list[float]) -> str:
    return (
        f"p50 {percentile(latencies_ms, 50):6.2f} ms  p99 {percentile(latencies_ms, 99):6.2f} ms"
        f"  mean {statistics.fmean(latencies_ms):6.2f} ms"
    )
