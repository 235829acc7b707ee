"""Query time for one person's 30-day track with a national-scale trace table.

    python -m bench.track_query [--points 100000000] [--queries 20]

Fills ``trace_points`` in the bench database (idempotent, one day partition at a time,
set-based INSERT … SELECT in PostgreSQL) with persons reporting every 10 minutes for 90
days until it holds ``--points`` rows, then times the track read the API does for random
persons over 30 days — as the bare SQL and through ``GET /persons/{id}/track`` — next to
a full count of one day partition for scale. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import http.client
import random
import time
from datetime import UTC, datetime, timedelta

import click
from sqlalchemy import text

from backend.services.access.tokens import create_token
from backend.services.tracking import trace_storage
from backend.services.tracking.tracks import _fixes
from bench.checks import _free_port, _start_api
from bench.common import bench_database_url, describe
from bench.gen_register import generate, prepare
from ops.cli import serve_workers

PER_DAY = 144  # one fix every 10 minutes
FIRST_PERSON = 1000


def fill(database, target: int, days: int = 90) -> int:  # type: ignore[no-untyped-def]
    persons = max(1, target // (days * PER_DAY))
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    trace_storage.create_partitions(database.engine, first, today)
    with database.engine.begin() as conn:
        conn.execute(
            text("CREATE TABLE IF NOT EXISTS bench_filled_days (day date PRIMARY KEY, persons int)")
        )
        done = set(
            conn.execute(
                text("SELECT day FROM bench_filled_days WHERE persons = :n"), {"n": persons}
            ).scalars()
        )
    todo = [first + timedelta(days=i) for i in range(days) if first + timedelta(days=i) not in done]
    with click.progressbar(todo, label=f"filling {persons:,} persons x {days} days") as bar:
        for day in bar:
            with database.engine.begin() as conn:
                conn.execute(
                    text(
                        f"""
                        INSERT INTO {trace_storage.partition_name(day)}
                            (person_id, recorded_at, geom, accuracy_m, source)
                        SELECT p, CAST(:day AS timestamptz) + k * interval '10 minutes'
                                  + (p % 590) * interval '1 second',
                               ST_SetSRID(ST_MakePoint(50 + (p % 3000) * 0.01 + (k % 7) * 1e-4,
                                                       42 + (p % 1100) * 0.01), 4326),
                               10, 'bench'
                        FROM generate_series(:lo, :hi) p, generate_series(0, {PER_DAY - 1}) k
                        ON CONFLICT DO NOTHING
                        """
                    ),
                    {
                        "day": f"{day.isoformat()} 00:00+00",
                        "lo": FIRST_PERSON,
                        "hi": FIRST_PERSON + persons - 1,
                    },
                )
                conn.execute(
                    text(
                        "INSERT INTO bench_filled_days VALUES (:d, :n) ON CONFLICT (day) DO UPDATE SET persons = :n"
                    ),
                    {"d": day, "n": persons},
                )
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE trace_points"))
    return persons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000_000)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    url = bench_database_url()
    database = prepare(url)
    with database.engine.connect() as conn:
        if conn.execute(
            text("SELECT count(*) FROM persons")
        ).scalar_one() < FIRST_PERSON + args.points // (90 * PER_DAY):
            generate(database, 1_000_000)
    started = time.perf_counter()
    persons = fill(database, args.points)
    print(f"fill (skipped when done) and ANALYZE took {time.perf_counter() - started:.0f} s")
    with database.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM trace_points")).scalar()
        size = conn.execute(
            text(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c WHERE relname LIKE 'trace_points_p%' AND relkind = 'r'"
            )
        ).scalar()
    print(f"trace_points: {total:,} rows in {size} (table + indexes)")
    rng = random.Random(3)
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    sample = [rng.randrange(FIRST_PERSON, FIRST_PERSON + persons) for _ in range(args.queries)]
    sql_ms, counts = [], []
    with database.sessions() as session:
        _fixes(session, sample[0], start, end)
        for pid in sample:
            t0 = time.perf_counter()
            counts.append(len(_fixes(session, pid, start, end)))
            sql_ms.append((time.perf_counter() - t0) * 1000)
    with database.transaction() as session:
        token, _ = create_token(session, "analyst", label="bench", owner="bench")
    port = _free_port()
    api = _start_api(url, port, serve_workers())
    http_ms = []
    try:
        for pid in sample[: max(5, args.queries // 2)]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            t0 = time.perf_counter()
            conn.request(
                "GET",
                f"/api/v1/persons/{pid}/track?from={start.isoformat().replace('+', '%2B')}&to={end.isoformat().replace('+', '%2B')}",
                headers={"Authorization": f"Bearer {token}", "X-Purpose": "bench"},
            )
            resp = conn.getresponse()
            body = resp.read()
            http_ms.append((time.perf_counter() - t0) * 1000)
            if resp.status != 200:
                raise RuntimeError(f"{resp.status} {body[:200]!r}")
            conn.close()
    finally:
        api.terminate()
        api.wait()
    print(f"one person's 30-day track ({sum(counts) // len(counts):,} points each):")
    print(f"  SQL (index scans over 30 daily partitions)  {describe(sql_ms)}")
    print(
        f"  HTTP GeoJSON incl. stays/trips + audit      {describe(http_ms)}  ({len(body) / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
