"""Moving a tracked person's points in a merge, beside a plain copy of the same rows.

    python -m bench.merges [--points 260000] [--rounds 3]

A merge of two records of one person moves every row of the one into the other inside
the administrator's request (``identity/duplicates.py``), and the API bounds each
statement (``QONYS_DB_STATEMENT_TIMEOUT_S``, 30 s). A person tracked for 90 days (the
retention) at one fix every 30 s has 260,000 points. On the bench database this gives
one person that many points, then times, each in a transaction rolled back:

- the merge's own move of the keyed rows (``_move_keyed_rows``: the keys the target
  lacks, read, then one INSERT … SELECT and one DELETE), and its slowest statement;
- the baseline: one ``INSERT … SELECT`` of every row under the other person and one
  ``DELETE`` of the originals, the least any move of those rows costs.

The two go in turns, each round in the other order, with a VACUUM between (a rolled
back insert leaves dead index entries the next one would meet). Figures, not
assertions: the ratio is the merge's time over the baseline's.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text

from backend.services.identity import duplicates
from backend.services.tracking import trace_storage
from bench.common import bench_database_url
from bench.gen_register import generate, prepare


def run(points: int, rounds: int) -> None:
    database = prepare(bench_database_url())
    with database.engine.connect() as conn:
        persons = conn.execute(text("SELECT count(*) FROM persons")).scalar_one()
    if persons < 2:
        generate(database, 1000)
    today = datetime.now(UTC).date()
    trace_storage.create_partitions(
        database.engine, today - timedelta(seconds=30 * points + 86_400), today
    )
    with database.engine.begin() as conn:
        source, target = conn.execute(text("SELECT id FROM persons ORDER BY id LIMIT 2")).scalars()
        conn.execute(
            text("DELETE FROM trace_points WHERE person_id IN (:a, :b)"),
            {"a": source, "b": target},
        )
        conn.execute(
            text(
                "INSERT INTO trace_points (person_id, recorded_at, received_at, geom, source)"
                " SELECT :p, now() - make_interval(secs => g * 30), now(),"
                " ST_SetSRID(ST_MakePoint(71.4, 51.1), 4326), 'bench'"
                " FROM generate_series(1, :n) g"
            ),
            {"p": source, "n": points},
        )
    slowest: list[float] = []

    @event.listens_for(database.engine, "before_cursor_execute")
    def _started(conn: Any, *_: Any) -> None:
        conn.info["bench.started"] = time.perf_counter()

    @event.listens_for(database.engine, "after_cursor_execute")
    def _ended(conn: Any, *_: Any) -> None:
        slowest.append(time.perf_counter() - conn.info.pop("bench.started"))

    merge: list[float] = []
    plain: list[float] = []
    statement: list[float] = []

    def moved_by_merge() -> None:
        with database.sessions() as session, session.begin():
            slowest.clear()
            started = time.perf_counter()
            moved = duplicates._move_keyed_rows(session, "trace_points", source, target, None)
            merge.append(time.perf_counter() - started)
            statement.append(max(slowest))
            session.rollback()
        assert len(moved) == points

    with database.sessions() as session:  # the columns as the merge reads them
        columns = duplicates._columns(session, "trace_points")
    listed = ", ".join(columns)
    values = ", ".join(":target" if c == "person_id" else c for c in columns)

    def moved_plainly() -> None:
        with database.engine.connect() as conn, conn.begin() as tx:
            started = time.perf_counter()
            conn.execute(
                text(
                    f"INSERT INTO trace_points ({listed}) SELECT {values}"
                    " FROM trace_points WHERE person_id = :source"
                ),
                {"source": source, "target": target},
            )
            conn.execute(
                text("DELETE FROM trace_points WHERE person_id = :source"), {"source": source}
            )
            plain.append(time.perf_counter() - started)
            tx.rollback()

    def vacuum() -> None:
        with database.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM trace_points")
            )

    try:
        for r in range(rounds):
            for move in (moved_by_merge, moved_plainly)[:: 1 if r % 2 == 0 else -1]:
                vacuum()
                move()
    finally:
        with database.engine.begin() as conn:
            conn.execute(
                text("DELETE FROM trace_points WHERE person_id IN (:a, :b)"),
                {"a": source, "b": target},
            )
    ratios = [m / p for m, p in zip(merge, plain, strict=True)]
    print(f"{points:,} points of one person moved to another, {rounds} rounds")
    print(f"  merge (_move_keyed_rows): {', '.join(f'{s:.2f}' for s in merge)} s")
    print(f"    its slowest statement:  {', '.join(f'{s:.2f}' for s in statement)} s")
    print(f"  plain INSERT + DELETE:    {', '.join(f'{s:.2f}' for s in plain)} s")
    print(f"  merge / plain: median {statistics.median(ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=260_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.points, args.rounds)


if __name__ == "__main__":
    main()
