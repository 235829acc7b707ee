"""The outbox: what it adds to an event's transaction, deliveries per second to a local
receiver, and the delay from an event's commit to its webhook's arrival.

    python -m bench.outbox [--events 400] [--workers 2] [--rate 40]

1. *Write*: the same event (a person registered) in its own transaction, alone or with
   its outbox row (one ``INSERT … SELECT`` over the webhook subscriptions), alternated.
2. *Throughput*: the rows of 1. enqueued at once; RQ workers (the forking worker
   ``qonys worker`` runs) deliver them to a local HTTP receiver; delivered per second.
3. *Delay*: events committed at ``--rate`` per second with the workers waiting; from each
   commit to its webhook's arrival, p50 and p99.

Uses ``BENCH_DATABASE_URL`` (else the bench database) and the project's Redis. Figures,
not assertions: this machine is shared and noisy. Goal: the outbox adds ≤ 1 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from rq import Queue
from sqlalchemy import text

from backend.jobs import outbox as outbox_jobs
from backend.schemas import PersonIn
from backend.services import events
from backend.services.notify import webhooks
from backend.services.register import persons
from bench.common import bench_database_url, describe, percentile, redis_url
from bench.gen_register import prepare

QUEUE = "qonys-bench-outbox"


def _person(i: int) -> dict[str, Any]:
    loaded: dict[str, Any] = PersonIn().load(
        {
            "surname": "Бенчев",
            "given_name": "Тест",
            "birth_date": "1990-01-01",
            "sex": "M",
            "citizenship": "UZB",
            "category": "labour_immigrant",
            "document": {"type": "passport", "number": f"BO{os.getpid() % 1000:03d}{i:07d}"},
        }
    )
    return loaded


class Receiver:
    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                person = json.loads(body)["data"]["person_id"]
                with receiver.lock:
                    receiver.arrived.setdefault(person, at)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


WORKER = (
    "import logging, sys; logging.disable(logging.INFO);"
    "from backend.jobs.runner import run_worker; from backend.settings import Settings;"
    "run_worker(Settings.from_env(), burst=sys.argv[1] == 'burst')"
)


def _workers(url: str, redis: str, n: int, burst: bool) -> list[subprocess.Popen[bytes]]:
    """``qonys worker``'s own loop (forking RQ workers), without the periodic scheduler."""
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis, "QONYS_QUEUE_NAME": QUEUE}
    mode = "burst" if burst else "steady"
    return [subprocess.Popen([sys.executable, "-c", WORKER, mode], env=env) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=40.0)
    args = parser.parse_args()
    url = bench_database_url()
    database = prepare(url)
    rurl = os.environ.get("BENCH_REDIS_URL") or redis_url()
    queue = Queue(QUEUE, connection=redis.Redis.from_url(rurl))
    queue.empty()
    receiver = Receiver()
    with database.transaction() as session:
        session.execute(text("DELETE FROM outbox"))
        session.execute(text("UPDATE webhook_subscriptions SET deleted_at = now()"))
        webhooks.subscribe(session, receiver.url, ["person.registered"], "bench")

    # 1. The event's transaction, alone and with its outbox row, alternated.
    alone, with_outbox, statement = [], [], []
    for i in range(args.events * 2):
        started = time.perf_counter()
        with database.transaction() as session:
            person = persons.create_person(session, _person(i))
            if i % 2:
                before = time.perf_counter()
                events.person_registered(session, person)
                statement.append((time.perf_counter() - before) * 1000)
        (with_outbox if i % 2 else alone).append((time.perf_counter() - started) * 1000)
    p50_alone, p50_with = percentile(alone, 50), percentile(with_outbox, 50)
    print(f"event alone        {describe(alone)}")
    print(f"event + outbox     {describe(with_outbox)}")
    print(f"outbox statement   {describe(statement)} (inside the event's transaction)")
    print(f"outbox adds        {p50_with - p50_alone:+.2f} ms at p50, end to end (goal ≤ 1 ms)")

    # 2. Throughput: every row at once, burst workers.
    with database.transaction() as session:
        ids = list(session.scalars(text("SELECT id FROM outbox WHERE status = 'pending'")))
    started = time.perf_counter()
    outbox_jobs.enqueue(queue, ids)
    for worker in _workers(url, rurl, args.workers, burst=True):
        worker.wait()
    took = time.perf_counter() - started
    print(
        f"delivered          {len(receiver.arrived)} of {len(ids)} in {took:.1f} s: "
        f"{len(receiver.arrived) / took:.0f} /s with {args.workers} RQ workers"
    )

    # 3. Delay from commit to arrival, events at a steady rate, workers waiting.
    outbox_jobs.install_kick(database, queue)
    workers = _workers(url, rurl, args.workers, burst=False)
    time.sleep(2)  # the workers start
    committed: dict[int, float] = {}
    try:
        for i in range(args.events):
            with database.transaction() as session:
                person = persons.create_person(session, _person(10_000_000 + i))
                events.person_registered(session, person)
                person_id = person.id
            committed[person_id] = time.time()
            time.sleep(1 / args.rate)
        deadline = time.time() + 60
        while time.time() < deadline and not all(p in receiver.arrived for p in committed):
            time.sleep(0.1)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    delays = [
        (receiver.arrived[p] - t) * 1000 for p, t in committed.items() if p in receiver.arrived
    ]
    print(
        f"commit → arrival   {describe(delays)} ({len(delays)} of {len(committed)} at {args.rate:.0f}/s)"
    )
    with database.transaction() as session:
        session.execute(text("UPDATE webhook_subscriptions SET deleted_at = now()"))
    database.dispose()


if __name__ == "__main__":
    main()
