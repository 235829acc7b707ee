"""Points per second through the HTTP batch endpoint, next to a raw COPY of the same rows.

    python -m bench.ingest [--points 200000] [--clients 4] [--devices 64] [--workers N]
                           [--as-drawn] [--server granian] [--client stdlib]

Starts the API as ``qonys serve`` runs it (or under ``--server granian``) against the bench
database, then for batches of 1,000 and 5,000 points sends pre-serialized batches from
several concurrent keep-alive clients spread evenly over its workers, each batch one
device's points (a phone uploading its backlog). The baseline is a COPY of rows with the
same shape into the same partitioned, indexed ``trace_points`` table, in the same run.
Afterwards it times alert evaluation of every person the ingest marked, to show whether
evaluation keeps up with the batch rate. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg2
from sqlalchemy import text

from backend.services.access.tokens import create_token
from backend.services.tracking import alert_rules, trace_storage
from backend.settings import Settings
from bench.checks import _free_port, _start_api
from bench.common import (
    Connection,
    Served,
    add_load_options,
    bench_database_url,
    cpu_per_item,
    cpu_seconds,
    describe_cpu,
)
from bench.gen_register import generate, prepare
from bench.phones import run
from bench.profile import profiled, summarise
from ops.cli import SERVE_THREADS, serve_workers


def _batches(
    person_ids: list[int], total: int, size: int, base: datetime, offset_s: int
) -> list[tuple[int, list[dict]]]:
    """``total`` points as batches of ``size``, each batch one person's consecutive fixes."""
    out = []
    per_person: dict[int, int] = {}
    for b in range(total // size):
        pid = person_ids[b % len(person_ids)]
        start = per_person.get(pid, 0)
        per_person[pid] = start + size
        points = [
            {
                "t": (base - timedelta(seconds=offset_s + start + k)).isoformat(),
                "lat": 51.16 + (k % 100) * 1e-4,
                "lon": 71.47,
                "accuracy_m": 8.0,
                "speed_mps": 1.1,
            }
            for k in range(size)
        ]
        out.append((pid, points))
    return out


def _http(
    served: Served, tokens: dict[int, str], batches: list[tuple[int, list[dict]]], clients: int
) -> tuple[float, int]:
    """Send the batches from ``clients`` keep-alive connections; the seconds it took
    (sending alone, not opening them) and the points the API accepted."""
    bodies = [(tokens[pid], json.dumps({"points": pts}).encode()) for pid, pts in batches]
    chunks = [bodies[i::clients] for i in range(clients)]
    conns = served.connections(clients)

    def work(conn: Connection, chunk: list[tuple[str, bytes]]) -> int:
        accepted = 0
        for token, body in chunk:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            status, answer = conn.request("POST", "/api/v1/traces", body, headers)
            payload = json.loads(answer)
            if status != 202:
                raise RuntimeError(f"{status}: {payload}")
            accepted += payload["accepted"]
        conn.close()
        return accepted

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        accepted = sum(pool.map(work, conns, chunks))
    return time.perf_counter() - started, accepted


def _copy(url: str, batches: list[tuple[int, list[dict]]], clients: int) -> tuple[float, int]:
    """COPY the same rows (as EWKT geometry) straight into trace_points, one COPY per batch."""
    payloads = []
    for pid, pts in batches:
        buf = io.StringIO()
        for p in pts:
            buf.write(
                f"{pid}\t{p['t']}\tSRID=4326;POINT({p['lon']} {p['lat']})\t{p['accuracy_m']}\t{p['speed_mps']}\tcopy\n"
            )
        payloads.append(buf.getvalue())
    chunks = [payloads[i::clients] for i in range(clients)]

    def work(chunk: list[str]) -> int:
        conn = psycopg2.connect(url)
        rows = 0
        with conn.cursor() as cur:
            for payload in chunk:
                cur.copy_expert(
                    "COPY trace_points (person_id, recorded_at, geom, accuracy_m, speed_mps, source) FROM STDIN",
                    io.StringIO(payload),
                )
                rows += cur.rowcount
                conn.commit()
        conn.close()
        return rows

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        rows = sum(pool.map(work, chunks))
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument(
        "--workers", type=int, default=serve_workers(), help="API workers (default: as served)"
    )
    parser.add_argument(
        "--single", action="store_true", help="one point per request, per phone protocol"
    )
    parser.add_argument("--requests", type=int, default=4000, help="with --single")
    parser.add_argument(
        "--profile", action="store_true", help="sample the API with py-spy (batches of 1,000)"
    )
    add_load_options(parser)
    args = parser.parse_args()
    if args.single:
        run(
            args.requests,
            args.clients,
            args.devices,
            args.workers,
            SERVE_THREADS,
            server=args.server,
            client=args.client,
            even=not args.as_drawn,
        )
        return
    url = bench_database_url()
    database = prepare(url)
    with database.engine.connect() as conn:
        persons = conn.execute(text("SELECT count(*) FROM persons")).scalar_one()
    if persons < args.devices * 3:  # outside the read: generating truncates the table
        generate(database, 100_000)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    trace_storage.prepare_ahead(database.engine, 90, 1)
    with database.engine.begin() as conn:
        ids = (
            conn.execute(
                text("SELECT id FROM persons ORDER BY id LIMIT :n"), {"n": args.devices * 3}
            )
            .scalars()
            .all()
        )
        conn.execute(
            text("DELETE FROM trace_points WHERE person_id = ANY(:ids)"), {"ids": list(ids)}
        )
        conn.execute(text("DELETE FROM alert_dirty"))
    api_ids, copy_ids = list(ids[: args.devices]), list(ids[args.devices : args.devices * 2])
    tokens = {}
    with database.transaction() as session:
        for pid in api_ids:
            tokens[pid], _ = create_token(
                session, "device", person_id=pid, label="bench", owner="bench"
            )
    port = _free_port()
    api = _start_api(url, port, args.workers, SERVE_THREADS, args.server)
    served = Served(port, args.workers, args.client, not args.as_drawn)
    rows = []
    cpu: dict[int, tuple[dict[str, float], dict[str, float]]] = {}
    try:
        # Warm-up, from as many clients at once as the server has threads, so that each
        # worker opens the connections its threads will use (and prepares the
        # statements on them); from every device, at the first and the last seconds of
        # each device's span in each run, so that the days the runs write are known
        # (each worker learns once that a day's partition exists). Half a second off the
        # run's points, which it does not meet. Warmed with fewer clients on other
        # days, the first measured batches paid for connecting and for partitions.
        warm_clients = args.workers * SERVE_THREADS
        half_off = base - timedelta(milliseconds=500)
        for i, size in enumerate((1000, 5000)):
            span = -(-args.points // size // len(api_ids)) * size  # seconds per device
            for start in (0, span - 250):
                warm = _batches(
                    api_ids, len(api_ids) * 250, 250, half_off, i * args.points * 2 + start
                )
                _http(served, tokens, warm, warm_clients)
        served.spreads.clear()  # the warm-up's spread is not a measured one
        for i, size in enumerate((1000, 5000)):
            offset = i * args.points * 2
            api_batches = _batches(api_ids, args.points, size, base, offset)
            copy_batches = _batches(copy_ids, args.points, size, base, offset)
            before = cpu_seconds(api.pid)
            if args.profile and size == 1000:
                with profiled(api.pid, 8) as samples:
                    api_s, accepted = _http(served, tokens, api_batches, args.clients)
                profile_text = summarise(samples)
            else:
                api_s, accepted = _http(served, tokens, api_batches, args.clients)
            between = cpu_seconds(api.pid)
            copy_s, copied = _copy(url, copy_batches, args.clients)
            cpu[size] = (  # per 1,000 points, through the API and by COPY
                cpu_per_item(before, between, accepted / 1000),
                cpu_per_item(between, cpu_seconds(api.pid), copied / 1000),
            )
            rows.append((size, accepted / api_s, copied / copy_s, len(api_batches) / api_s))
    finally:
        api.terminate()
        api.wait()
    with database.engine.connect() as conn:
        dirty = conn.execute(text("SELECT count(*) FROM alert_dirty")).scalar_one()
        stored = conn.execute(text("SELECT count(*) FROM trace_points")).scalar_one()
    started = time.perf_counter()
    evaluated = alert_rules.evaluate_dirty(database, Settings.from_env(database_url=url))
    eval_s = time.perf_counter() - started

    if args.profile:
        print(f"profile of the API taking batches of 1,000 (py-spy):\n{profile_text}\n")
    print(
        f"trace_points now holds {stored:,} rows; {args.clients} concurrent clients, "
        f"{args.devices} devices; {args.server} {args.workers} workers x {SERVE_THREADS} "
        f"threads, load sent by {args.client}; connections per worker {served.described()}"
    )
    print(
        f"{'batch':>6} {'API points/s':>14} {'raw COPY points/s':>18} {'API/COPY':>9} {'batches/s':>10}"
    )
    for size, api_rate, copy_rate, batch_rate in rows:
        print(
            f"{size:>6} {api_rate:>14,.0f} {copy_rate:>18,.0f} {api_rate / copy_rate:>9.0%} {batch_rate:>10.1f}"
        )
    for size, (api_cpu, copy_cpu) in cpu.items():
        print(
            f"CPU per 1,000 points, batches of {size:,}, through the API: {describe_cpu(api_cpu)}"
        )
        print(f"{'':41} by raw COPY: {describe_cpu(copy_cpu)}")
    per_person_ms = eval_s / max(evaluated, 1) * 1000
    print(
        f"alert evaluation: {evaluated} persons in {eval_s:.2f} s ({per_person_ms:.1f} ms/person, "
        f"{evaluated / eval_s if eval_s else 0:.0f} persons/s) — dirty before: {dirty}; "
        f"batches arrive at most {max(r[3] for r in rows):.1f}/s and each marks one person"
    )


if __name__ == "__main__":
    main()
