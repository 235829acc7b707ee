"""Helpers the test modules share (factories of register data are in tests/factories.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from click.testing import CliRunner
from rq import Queue
from sqlalchemy import text
from werkzeug.serving import make_server

from backend.demo.traces import route as demo_route
from backend.jobs.runner import InProcessWorker
from backend.services.tracking import trace_storage, traces
from backend.services.tracking.trace_points import point_from_batch
from ops.cli import main as cli_main

# Tests of the single-node planner's choices: on Citus every shard holds 1/32 of a test's
# rows, too few for an index to be worth it (the Citus pass is tests/citus_suites.py).
single_node_plan = pytest.mark.skipif(
    bool(os.environ.get("QONYS_TESTS_ON_CITUS")),
    reason="a plan of one node: Citus shards hold too few test rows for the index",
)


def run_jobs(app: Any) -> None:
    """Work off everything queued (users' queue first, the maintenance queue last), in
    this process, as the workers would."""
    queues = [app.extensions["qonys.user_queue"], app.extensions["qonys.queue"]]
    settings = app.extensions["qonys.settings"]
    queues.append(Queue(settings.maintenance_queue_name, connection=queues[0].connection))
    InProcessWorker(queues, connection=queues[0].connection).work(burst=True)


def worker_process(redis_url: str, queue_name: str, env: dict[str, str] | None = None) -> Any:
    """A real RQ worker in its own process group, so a test can SIGKILL it mid-job."""
    return subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, queue_name],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def qonys(
    *args: str, env: dict[str, str] | None = None, check: bool = False, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a ``qonys`` command as an operator would, in this process (click's runner:
    the same command objects, arguments and exit codes, without a Python start-up each);
    ``env`` adds to the environment for the call, ``input`` is its standard input."""
    result = CliRunner().invoke(cli_main, list(args), env=env, catch_exceptions=True, input=input)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    done = subprocess.CompletedProcess(["qonys", *args], result.exit_code, result.stdout, stderr)
    if check:
        done.check_returncode()
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def count(db: Any, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def scalars(db: Any, sql: str, **params: Any) -> list[Any]:
    """The first column of every row ``sql`` reads, in order."""
    with db.engine.connect() as conn:
        return list(conn.execute(text(sql), params).scalars())


def settlement_kato(db: Any, name: str) -> str:
    with db.engine.connect() as conn:
        kato = conn.execute(
            text("SELECT kato FROM settlements WHERE name = :n"), {"n": name}
        ).scalar()
    assert kato, f"settlement {name} is not in the reference data"
    return str(kato)


def route(
    start: datetime, legs: list[tuple[float, tuple[float, float]]], step_min: int = 15
) -> list[dict[str, Any]]:
    """Batch points every ``step_min`` minutes: each leg is (hours, (lat, lon))."""
    return demo_route(start, legs, step_min)


def send_points(client: Any, headers: dict[str, str], points: list[dict[str, Any]]) -> None:
    """Upload through the batch API in 5,000-point batches; every point must be accepted."""
    for i in range(0, len(points), 5000):
        resp = client.post("/api/v1/traces", json={"points": points[i : i + 5000]}, headers=headers)
        assert resp.status_code == 202 and not resp.get_json()["rejected"], resp.get_json()


def receive_live(app: Any, person_id: int, points: list[dict[str, Any]]) -> None:
    """Store batch points as if the server had received each one at its own time: a phone
    reporting live, which the batch API (received now) cannot simulate."""
    settings = app.extensions["qonys.settings"]
    build = partial(point_from_batch, person_id=person_id)
    database = app.extensions["qonys.db"]
    # Partitions first: creating one waits for a transaction that has written the parent.
    days = {datetime.fromisoformat(raw["t"]).astimezone(UTC).date() for raw in points}
    trace_storage.ensure_partitions_for(database.engine, days)
    with database.transaction() as session:
        for raw in points:
            at = datetime.fromisoformat(raw["t"])
            result = traces.ingest(session, [raw], build, "batch", settings, now=at)
            assert result.accepted == 1, result.rejected


def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a free local port in a thread; yields its base URL, then stops it."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def wait_for(condition: Any, timeout: float = 30.0, every: float = 0.2) -> None:
    """Poll ``condition()`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        time.sleep(every)


class BrokenSchema:
    """An output schema that cannot render: a fault after a lane has written."""

    def dump(self, _result: Any) -> Any:
        raise TypeError("a schema that cannot render")


def drop_partition(db: Any, day: Any) -> None:
    """``day``'s partition of trace_points gone (detached and dropped), if it was there."""
    name = trace_storage.partition_name(day)
    with db.engine.begin() as conn:
        if day in trace_storage.existing_partitions(conn):
            conn.execute(text(f"ALTER TABLE trace_points DETACH PARTITION {name}"))
            conn.execute(text(f"DROP TABLE {name}"))
    trace_storage.forget_known_partitions()
