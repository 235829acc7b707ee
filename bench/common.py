"""Shared bench helpers: a migrated bench database with reference geography."""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import shutil
import statistics
import subprocess
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycurl

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


_TICK = os.sysconf("SC_CLK_TCK")
# What a process is, by its name: the database and Redis servers, beside the API's tree.
_SERVERS = (("PostgreSQL", "postgres"), ("PostgreSQL", "postmaster"), ("Redis", "redis"))


def cpu_seconds(api_pid: int) -> Counter[str]:
    """User and system CPU seconds so far of the machine's processes, by kind: "API"
    (``api_pid`` and its children: the server and its workers), "PostgreSQL", "Redis",
    "load" (this process: the clients) and "other". A shared machine's throughput swings
    from run to run; the CPU a request costs each part swings far less."""
    seconds: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes().decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, parent = int(entry.name), int(fields[1])
        if pid == os.getpid():
            kind = "load"
        elif api_pid in (pid, parent):
            kind = "API"
        else:
            kind = next((k for k, prefix in _SERVERS if name.startswith(prefix)), "other")
        # With the children it has reaped: a database connection's backend that ended
        # counts on the postmaster, an API worker that ended on its server.
        seconds[kind] += sum(int(f) for f in fields[11:15]) / _TICK
    return seconds


KINDS = ("API", "PostgreSQL", "Redis", "load")


def cpu_per_item(before: Counter[str], after: Counter[str], items: float) -> dict[str, float]:
    """Milliseconds of CPU per item (a request, a thousand points) by kind, between two
    readings."""
    return {k: (after[k] - before[k]) / max(items, 1e-9) * 1000 for k in after | before}


def cpu_total(per_item: dict[str, float]) -> float:
    """The CPU of the kinds that did the work (:data:`KINDS`), without other tenants."""
    return sum(per_item.get(k, 0.0) for k in KINDS)


def describe_cpu(per_item: dict[str, float]) -> str:
    """``API 0.850, PostgreSQL 0.400, … ms``: the kinds that did the work, and their sum."""
    parts = ", ".join(f"{k} {per_item.get(k, 0.0):.3f}" for k in KINDS)
    return f"{parts} (all {cpu_total(per_item):.3f}) ms"


class KeepAlive:
    """One keep-alive HTTP/1.1 connection for a benchmark's load, through libcurl.

    The load runs on the same two cores as the API and the database, and in a 1-client
    run its own time is inside every latency. ``http.client`` (and urllib3 and requests,
    which sit on it) cost the load 0.07 ms of CPU per request, 0.14 ms with a check's
    JSON; libcurl, from C, 0.03 ms: about what the raw-SQL baselines' client, psycopg2,
    costs. ``request`` answers ``(status, body)``."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: int = 60) -> None:
        self.base = f"http://{host}:{port}"
        self.curl = pycurl.Curl()
        self.body = io.BytesIO()
        self.curl.setopt(pycurl.WRITEDATA, self.body)
        self.curl.setopt(pycurl.TIMEOUT, timeout_s)
        self.curl.setopt(pycurl.TCP_NODELAY, 1)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        curl = self.curl
        curl.setopt(pycurl.URL, self.base + path)
        # "Expect:" off: curl would otherwise wait for a 100 before a body over 1 KiB.
        sent = [f"{k}: {v}" for k, v in (headers or {}).items()] + ["Expect:"]
        curl.setopt(pycurl.HTTPHEADER, sent)
        if method == "GET":
            curl.setopt(pycurl.HTTPGET, 1)
        elif method == "HEAD":
            curl.setopt(pycurl.NOBODY, 1)
        else:
            curl.setopt(pycurl.POSTFIELDS, body)
            curl.setopt(pycurl.CUSTOMREQUEST, method)
        self.body.seek(0)
        self.body.truncate()
        try:
            curl.perform()
        finally:
            if method == "HEAD":
                curl.setopt(pycurl.NOBODY, 0)
            elif method != "GET":
                curl.setopt(pycurl.CUSTOMREQUEST, None)
        return int(curl.getinfo(pycurl.RESPONSE_CODE)), self.body.getvalue()

    def local_port(self) -> int:
        """The port this connection was opened from (after its first request)."""
        return int(self.curl.getinfo(pycurl.LOCAL_PORT))

    def close(self) -> None:
        self.curl.close()


class StdlibKeepAlive:
    """:class:`KeepAlive` through ``http.client``, as the benchmarks' load was sent up to
    this round (``--client stdlib``: the earlier figures, reproduced)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout_s: int = 60) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout_s)

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body or None, headers=dict(headers or {}))
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def local_port(self) -> int:
        """The port this connection was opened from (after its first request)."""
        sock = self.conn.sock
        return int(sock.getsockname()[1]) if sock is not None else 0

    def close(self) -> None:
        self.conn.close()


CLIENTS: dict[str, type[KeepAlive] | type[StdlibKeepAlive]] = {
    "curl": KeepAlive,
    "stdlib": StdlibKeepAlive,
}


Connection = KeepAlive | StdlibKeepAlive
_PEER_AND_PID = re.compile(r"\S+\s+\S+\s+\S+\s+\S+:(\d+)\s+.*?pid=(\d+)")


def _server_pids(port: int) -> dict[int, int]:
    """For each connection the server on ``port`` holds: the client's port, and the
    pid of the process (the server's worker) that accepted it (``ss``, which names the
    processes of the user running it, or every one's as root); empty when ``ss`` is
    missing or fails."""
    if shutil.which("ss") is None:
        return {}
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found = (_PEER_AND_PID.match(line) for line in out.splitlines())
    return {int(m.group(1)): int(m.group(2)) for m in found if m}


def spread_connections(
    port: int, n: int, workers: int, client: str = "curl", even: bool = True
) -> tuple[list[Connection], list[int]]:
    """``n`` keep-alive connections to the server on ``port``, spread evenly over its
    ``workers`` processes, and how many each process holds.

    A server whose workers share one listening socket (gunicorn) lets whichever worker
    wakes first accept a connection: 4 connections land 2/2 on two workers only 3
    times in 8, 3/1 half the time and 4/0 once in 8, and a keep-alive connection stays
    where it landed. A worker holding 3 of 4 busy clients is bound by its interpreter
    lock while the other idles, so a run's rate depended on that draw more than on the
    code: runs of the same build swung from 0.66 to 1.60 of each other. Each
    connection here is opened, asked ``GET /health``, and kept only while its worker
    holds no more than its share (else opened again), so every phase is measured with
    its connections spread the same way. ``even=False``, or without ``ss`` (iproute2),
    the draw stays as it fell; the counts say how when they can be read, and are empty
    when not."""
    workers = max(workers, 1)
    fewer, extra = divmod(n, workers)  # each holds `fewer`, `extra` of them one more
    conns: list[Connection] = []
    held: Counter[int] = Counter()
    retries = 0
    while len(conns) < n:
        conn = CLIENTS[client](port)
        conn.request("GET", "/health")
        owner = _server_pids(port).get(conn.local_port(), 0)
        fits = held[owner] < fewer or (
            held[owner] == fewer and sum(1 for c in held.values() if c > fewer) < extra
        )
        if even and owner and not fits and retries < 100 * n:
            conn.close()
            retries += 1
            continue
        held[owner] += 1
        conns.append(conn)
    if not all(held):  # an owner could not be read: no spread to tell
        return conns, []
    return conns, sorted(held.values(), reverse=True)


@dataclass
class Served:
    """The API under measure as the load meets it: its port and worker count, the load's
    HTTP client, whether the load's connections are spread evenly over the workers, and
    how they were spread each time (``2/2``; empty when it could not be read)."""

    port: int
    workers: int
    client: str = "curl"
    even: bool = True
    spreads: list[str] = field(default_factory=list)

    def connections(self, n: int) -> list[Connection]:
        """``n`` keep-alive connections (:func:`spread_connections`), their spread noted."""
        conns, spread = spread_connections(self.port, n, self.workers, self.client, self.even)
        self.spreads.append("/".join(map(str, spread)))
        return conns

    def described(self, spreads: list[str] | None = None) -> str:
        """How ``spreads`` (by default every one noted) fell: ``2/2``, ``2/2 or 3/1``."""
        seen = sorted(set(self.spreads if spreads is None else spreads) - {""})
        return (" or ".join(seen) or "unknown (no ss)") + ("" if self.even else " (as they fell)")


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """``--server`` (what serves the API), ``--client`` (what sends the load) and
    ``--as-drawn`` (the load's connections left where they fell)."""
    parser.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default="gunicorn",
        help="gunicorn's gthread as `qonys serve` runs it, or Granian's WSGI (the bench extra)",
    )
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="curl",
        help="the load's HTTP client: libcurl (pycurl), or http.client as up to issue 27's "
        "third round (0.04–0.1 ms more of the shared CPU per request)",
    )
    parser.add_argument(
        "--as-drawn",
        action="store_true",
        help="keep each connection on the worker that accepted it, as a server does "
        "(by default they are spread evenly over the workers)",
    )
