"""The same traces on one PostgreSQL and on Citus (a coordinator and two workers), in one run.

    python -m bench.scale [--persons 300] [--days 30] [--queries 40]

For each engine: a fresh bench database, migrated (on Citus, migration 0015 distributes
the trace family by person over 32 shards), ``--persons`` persons; then every person's
``--days`` days of fixes (one every 10 minutes) go in through the ingest path the API uses
(``traces.store_points``: COPY into a staging table, one statement into the partitions,
last positions and alert marks), batches of 5,000, one person per batch; then the 30-day
track read the API does (``tracks._fixes``) for random persons. Figures, not assertions:
points/s, track p50/p99, the Citus/single ratios, and for Citus the shards and rows per
worker. Both engines share this machine (2 cores): Citus adds its coordinator hop and
gains no hardware, so it measures the overhead, not the speed-up a real cluster gives.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from backend.db import Database, on_citus
from backend.services.tracking import trace_storage, traces
from backend.services.tracking.trace_points import Point
from backend.services.tracking.tracks import _fixes
from backend.settings import PROJECT_ROOT
from bench.common import bench_database_url, bench_settings, describe, percentile
from bench.gen_register import copy_persons, prepare
from ops import citus, stack

PER_DAY = 144
BATCH = 5000


def _points(person_id: int, first: datetime, days: int) -> list[Point]:
    return [
        Point(
            person_id=person_id,
            t=first + timedelta(minutes=10 * k, seconds=person_id % 600),
            lat=51.10 + (person_id % 50) * 0.002 + (k % 7) * 1e-4,
            lon=71.40 + (person_id % 40) * 0.002,
            accuracy_m=8.0,
        )
        for k in range(days * PER_DAY)
    ]


def _persons(database: Database, count: int) -> list[int]:
    """``count`` monitored persons (COPY, with valid IINs); nothing else of the register."""
    with database.engine.begin() as conn:
        conn.execute(
            text("TRUNCATE persons, trace_points, trace_last_positions, alert_dirty CASCADE")
        )
    copy_persons(database, count, 0, random.Random(7), {})
    with database.engine.connect() as conn:
        return list(conn.scalars(text("SELECT id FROM persons ORDER BY id")))


def _measure(url: str, persons: int, days: int, queries: int) -> dict[str, Any]:
    database = prepare(url)
    ids = _persons(database, persons)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=days)
    trace_storage.create_partitions(database.engine, first.date(), today.date())
    settings = bench_settings(url)
    total, started = 0, time.perf_counter()
    for pid in ids:
        points = _points(pid, first, days)
        for i in range(0, len(points), BATCH):
            with database.transaction() as session:
                total += traces.store_points(
                    session, points[i : i + BATCH], "batch", settings.trace_max_speed_mps
                )
    ingest_s = time.perf_counter() - started
    rng = random.Random(1)
    latencies = []
    for _ in range(queries):
        pid = rng.choice(ids)
        t0 = time.perf_counter()
        with database.transaction() as session:
            rows = _fixes(session, pid, first, today)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert len(rows) == days * PER_DAY
    result: dict[str, Any] = {
        "points": total,
        "points_per_s": total / ingest_s,
        "track": latencies,
    }
    with database.engine.connect() as conn:
        if on_citus(conn):
            result["workers"] = conn.execute(
                text(
                    "SELECT nodename || ':' || nodeport AS node, count(*) AS shards,"
                    " sum(shard_size) AS bytes FROM citus_shards"
                    " WHERE table_name::text LIKE 'trace_points_p%' GROUP BY 1 ORDER BY 1"
                )
            ).all()
            result["rows_per_worker"] = conn.execute(
                text(
                    "SELECT nodeport, sum(result::bigint) FROM run_command_on_shards("
                    "'trace_points', $$SELECT count(*) FROM %s$$) r"
                    " JOIN pg_dist_placement p USING (shardid)"
                    " JOIN pg_dist_node n ON n.groupid = p.groupid GROUP BY 1 ORDER BY 1"
                )
            ).all()
            result["shard_count"] = conn.scalar(
                text(
                    "SELECT shard_count FROM citus_tables WHERE table_name = "
                    "'trace_points'::regclass"
                )
            )
    database.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    data_dir = Path(PROJECT_ROOT / ".data")
    cluster = citus.start_cluster(data_dir, workers=2)
    runs = {
        "single PostgreSQL": bench_database_url(),
        "Citus 1+2": stack.with_database(cluster.url, citus.BENCH_DATABASE),
    }
    results = {}
    for name, url in runs.items():
        print(f"{name}: {args.persons} persons x {args.days} days ...", flush=True)
        results[name] = _measure(url, args.persons, args.days, args.queries)
    print()
    for name, r in results.items():
        print(
            f"{name:18} ingest {r['points']:,} points at {r['points_per_s']:9,.0f}/s"
            f"   {args.days}-day track ({args.days * PER_DAY} fixes) {describe(r['track'])}"
        )
    single, dist = results["single PostgreSQL"], results["Citus 1+2"]
    print(
        f"\nCitus / single: ingest {dist['points_per_s'] / single['points_per_s']:.2f}, "
        f"track p50 {percentile(dist['track'], 50) / percentile(single['track'], 50):.2f}x "
        f"the time; shard count {dist.get('shard_count')}"
    )
    for node, shards, size in dist.get("workers", []):
        print(f"  {node}: {shards} trace shards, {int(size or 0) / 1e6:,.1f} MB")
    for port, rows in dist.get("rows_per_worker", []):
        print(f"  worker :{port}: {int(rows):,} points")


if __name__ == "__main__":
    main()
