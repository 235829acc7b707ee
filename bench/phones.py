"""Single-point phone requests per second, per protocol, next to /health and raw COPY.

    python -m bench.phones [--requests 4000] [--clients 4] [--devices 64] [--workers N]
                           [--threads 4]   (default: what `qonys serve` uses)
                           [--profile]     (py-spy samples the API during the OsmAnd run)
                           [--server granian]  (Granian's WSGI instead of gunicorn:
                                                pip install -e '.[bench]')
                           [--rounds 3]    (then /health and OsmAnd GET alternately)
                           [--as-drawn]    (connections stay where they land; by
                                            default spread evenly over the workers)
    (also: python -m bench.ingest --single)

Real phones send one point per request. The API runs under gunicorn against the bench
database; each of the concurrent keep-alive clients sends requests exactly as the apps
do (OsmAnd GET, Traccar Client form POST, Traccar Client 9 JSON, OwnTracks with Basic
auth), one point each, for many devices. In the same run: ``GET /health`` (one database
and one Redis round trip) and a raw single-row COPY + commit per point into the same
table. Every acknowledged point is counted in the table afterwards. Figures, not
assertions.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg2
from sqlalchemy import text

from backend.services.access.tokens import create_token
from backend.services.tracking import trace_storage
from bench.checks import _free_port, _start_api
from bench.common import (
    KINDS,
    Connection,
    Served,
    add_load_options,
    bench_database_url,
    cpu_per_item,
    cpu_seconds,
    cpu_total,
)
from bench.gen_register import generate, prepare
from bench.profile import profiled, summarise
from ops.cli import SERVE_THREADS, serve_workers

Build = Callable[[str, datetime, int], tuple[str, str, dict[str, str], bytes]]


def _osmand_get(token: str, t: datetime, k: int) -> tuple[str, str, dict[str, str], bytes]:
    query = (
        f"id={token}&lat={51.16 + k % 100 * 1e-4}&lon=71.47&timestamp={int(t.timestamp() * 1000)}"
        "&hdop=9.0&altitude=347.0&speed=1.2&bearing=90.0"
    )
    return "GET", f"/api/v1/traces/osmand?{query}", {}, b""


def _traccar_form(token: str, t: datetime, k: int) -> tuple[str, str, dict[str, str], bytes]:
    body = (
        f"id={token}&timestamp={int(t.timestamp())}&lat={51.16 + k % 100 * 1e-4}&lon=71.47"
        "&speed=0.0&bearing=0.0&altitude=347.0&accuracy=8.0&batt=55.0"
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return "POST", "/api/v1/traces/osmand", headers, body.encode()


def _traccar_json(token: str, t: datetime, k: int) -> tuple[str, str, dict[str, str], bytes]:
    body = {
        "location": {
            "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "coords": {
                "latitude": 51.16 + k % 100 * 1e-4,
                "longitude": 71.47,
                "accuracy": 9.0,
                "speed": 1.2,
                "heading": 90.0,
                "altitude": 347.0,
            },
            "is_moving": True,
            "odometer": 10,
            "event": "",
            "battery": {"level": 0.8, "is_charging": False},
            "activity": {"type": "walking"},
            "extras": {},
        },
        "device_id": token,
    }
    headers = {"Content-Type": "application/json"}
    return "POST", "/api/v1/traces/osmand", headers, json.dumps(body).encode()


def _owntracks(token: str, t: datetime, k: int) -> tuple[str, str, dict[str, str], bytes]:
    body = {
        "_type": "location",
        "lat": 51.16 + k % 100 * 1e-4,
        "lon": 71.47,
        "tst": int(t.timestamp()),
        "acc": 9,
        "vel": 4,
        "tid": "QN",
        "batt": 80,
    }
    auth = base64.b64encode(f"person:{token}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}
    return "POST", "/api/v1/traces/owntracks", headers, json.dumps(body).encode()


PROTOCOLS: dict[str, Build] = {
    "OsmAnd GET": _osmand_get,
    "Traccar Client form": _traccar_form,
    "Traccar Client 9 JSON": _traccar_json,
    "OwnTracks": _owntracks,
}


@dataclass
class Phase:
    """One phase's rate, its CPU per request by kind, and how its connections fell."""

    rate: float
    cpu: dict[str, float]
    spread: str  # "2/2"; empty when it could not be read, or for no connections


def _run(
    served: Served,
    requests: list[tuple[str, str, dict[str, str], bytes]],
    clients: int,
    api_pid: int,
) -> Phase:
    """Send ``requests`` from ``clients`` keep-alive connections spread evenly over the
    server's workers (:meth:`Served.connections`); the rate and the CPU are of the
    sending alone, not of opening them."""
    conns = served.connections(clients)
    chunks = [requests[i::clients] for i in range(clients)]

    def work(conn: Connection, chunk: list[tuple[str, str, dict[str, str], bytes]]) -> None:
        for method, path, headers, body in chunk:
            status, _answer = conn.request(method, path, body, headers)
            if status != 200:
                raise RuntimeError(f"{method} {path[:40]}: {status}")
        conn.close()

    before = cpu_seconds(api_pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, conns, chunks))
    rate = len(requests) / (time.perf_counter() - started)
    cpu = cpu_per_item(before, cpu_seconds(api_pid), len(requests))
    return Phase(rate, cpu, served.spreads[-1])


def _copy_single(url: str, person_ids: list[int], n: int, base: datetime, clients: int) -> float:
    """The same work without the API: one row COPYed and committed per point."""

    def work(c: int) -> None:
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            for k in range(c, n, clients):
                pid = person_ids[k % len(person_ids)]
                t = (base - timedelta(seconds=k)).isoformat()
                row = f"{pid}\t{t}\tSRID=4326;POINT(71.47 51.16)\t9\tcopy\n"
                cur.copy_expert(
                    "COPY trace_points (person_id, recorded_at, geom, accuracy_m, source)"
                    " FROM STDIN",
                    io.StringIO(row),
                )
                conn.commit()
        conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, range(clients)))
    return n / (time.perf_counter() - started)


def run(
    requests_n: int,
    clients: int,
    devices: int,
    workers: int,
    threads: int = 4,
    profile: bool = False,
    server: str = "gunicorn",
    client: str = "curl",
    rounds: int = 3,
    even: bool = True,
) -> None:
    url = bench_database_url()
    database = prepare(url)
    with database.engine.connect() as conn:
        persons = conn.execute(text("SELECT count(*) FROM persons")).scalar_one()
    if persons < devices * 2:  # outside the read: generating truncates the table
        generate(database, 100_000)
    trace_storage.prepare_ahead(database.engine, 90, 1)
    with database.engine.begin() as conn:
        ids = (
            conn.execute(
                text("SELECT id FROM persons ORDER BY id DESC LIMIT :n"), {"n": devices * 2}
            )
            .scalars()
            .all()
        )
        conn.execute(text("DELETE FROM trace_points WHERE person_id = ANY(:i)"), {"i": list(ids)})
        conn.execute(text("DELETE FROM api_tokens WHERE label = 'bench phone'"))
    api_ids, copy_ids = list(ids[:devices]), list(ids[devices:])
    with database.transaction() as session:
        tokens = [
            create_token(session, "device", person_id=p, label="bench phone", owner="bench")[0]
            for p in api_ids
        ]
    os.environ["QONYS_DEVICE_RATE_LIMIT"] = "1000000/minute"  # measure the limiter, not hit it
    os.environ["QONYS_API_RATE_LIMIT"] = "1000000/minute"
    port = _free_port()
    api = _start_api(url, port, workers, threads, server)
    served = Served(port, workers, client, even)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    results: list[tuple[str, Phase]] = []
    alternating: list[float] = []  # OsmAnd GET / health, round by round
    profile_text = ""

    def send(batch: list[tuple[str, str, dict[str, str], bytes]]) -> Phase:
        return _run(served, batch, clients, api.pid)

    try:
        health: list[tuple[str, str, dict[str, str], bytes]]
        health = [("GET", "/health", {}, b"")] * requests_n
        send(health[: requests_n // 4])  # warm-up
        warm = [
            _osmand_get(tokens[k % devices], base - timedelta(days=2, seconds=k), k)
            for k in range(requests_n // 4)
        ]
        send(warm)
        results.append(("GET /health", send(health)))
        for offset, (name, build) in enumerate(PROTOCOLS.items()):
            batch = [
                build(tokens[k % devices], base - timedelta(hours=offset, seconds=k // devices), k)
                for k in range(requests_n)
            ]
            if profile and name == "OsmAnd GET":
                # As long as the unprofiled run of the same size took /health, about.
                seconds = max(5, int(requests_n / max(results[0][1].rate, 1)) + 2)
                with profiled(api.pid, seconds) as samples:
                    results.append((name, send(batch)))
                profile_text = summarise(samples)
            else:
                results.append((name, send(batch)))
        # /health and OsmAnd GET again, one after the other, round by round: a shared
        # machine's drift from one phase to the next moves both of a round alike.
        for r in range(rounds):
            health_now = send(health)
            batch = [
                _osmand_get(
                    tokens[k % devices], base - timedelta(hours=4 + r, seconds=k // devices), k
                )
                for k in range(requests_n)
            ]
            alternating.append(send(batch).rate / health_now.rate)
        before = cpu_seconds(api.pid)
        copy_rate = _copy_single(url, copy_ids, requests_n, base, clients)
        copy_cpu = cpu_per_item(before, cpu_seconds(api.pid), requests_n)
        results.append(("raw COPY, 1 row + commit", Phase(copy_rate, copy_cpu, "")))
    finally:
        api.terminate()
        api.wait()
    with database.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT count(*) FROM trace_points WHERE person_id = ANY(:i) AND source <> 'copy'"
            ),
            {"i": api_ids},
        ).scalar_one()
    health_rate, copy_rate = results[0][1].rate, results[-1][1].rate
    print(
        f"{clients} keep-alive clients, {devices} devices, {requests_n} requests each, "
        f"{server} {workers} workers x {threads} threads, load sent by {client}; "
        f"connections per worker {served.described([phase.spread for _, phase in results])}"
    )
    kinds = (*KINDS, "other")
    print(
        f"{'':26} {'requests/s':>11} {'/ health':>9} {'/ COPY':>8}   CPU ms per request: "
        + " ".join(f"{k:>10}" for k in kinds)
        + f" {'all':>6}"
    )
    for name, phase in results:
        rate, cpu = phase.rate, phase.cpu
        print(
            f"{name:26} {rate:>11,.0f} {rate / health_rate:>9.2f} {rate / copy_rate:>8.2f}"
            + " " * 23
            + " ".join(f"{cpu.get(k, 0.0):>10.3f}" for k in kinds)
            + f" {cpu_total(cpu):>6.3f}"
        )
    print(
        "CPU per request: the API's processes, the database and Redis servers, the clients"
        " (load); 'all' is their sum, without 'other' (the machine's other tenants, py-spy)."
        " Steadier than requests/s on a shared machine"
    )
    if alternating:
        print(
            f"OsmAnd GET / health, {len(alternating)} rounds one after the other: "
            + " ".join(f"{ratio:.2f}" for ratio in alternating)
            + f" (median {statistics.median(alternating):.2f})"
        )
    expected = requests_n * (len(PROTOCOLS) + len(alternating)) + requests_n // 4
    print(f"points acknowledged {expected:,}, stored {stored:,}")
    if profile_text:
        print("profile of the API taking OsmAnd GETs (py-spy):")
        print(profile_text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--workers", type=int, default=serve_workers())
    parser.add_argument("--threads", type=int, default=SERVE_THREADS)
    parser.add_argument(
        "--profile", action="store_true", help="sample the API with py-spy during the OsmAnd run"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="then /health and OsmAnd GET again, one after the other, this many times",
    )
    add_load_options(parser)
    args = parser.parse_args()
    run(
        args.requests,
        args.clients,
        args.devices,
        args.workers,
        args.threads,
        args.profile,
        args.server,
        args.client,
        args.rounds,
        not args.as_drawn,
    )


if __name__ == "__main__":
    main()
