"""What the HTTP server itself costs: CPU per request of gunicorn's gthread against Granian.

    python -m bench.servers [--requests 8000] [--clients 4] [--workers 1] [--threads 4]
    (Granian is in the bench extra: pip install -e '.[bench]')

Each server runs a WSGI app that answers ``ok`` and nothing else, so what is measured is
the server: reading the request, handing it to a thread, writing the answer. The same
keep-alive clients as bench.phones drive both, in the same run; the CPU is read from
/proc for the server's processes. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Callable, Iterable
from functools import partial

from bench.checks import _answers, _free_port, _server_command
from bench.phones import _run

_HELLO = ("GET", "/", {}, b"")
HELLO_APP = "bench.servers:hello"
SERVERS = (("gunicorn gthread", "gunicorn"), ("granian (WSGI)", "granian"))


def hello(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    """The smallest WSGI app: what is left of a request's time is the server's."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    rows: list[tuple[str, float, float]] = []
    for name, server_kind in SERVERS:
        port = _free_port()
        command = _server_command(server_kind, port, args.workers, args.threads, app=HELLO_APP)
        server = subprocess.Popen(command)
        try:
            if not _answers(port, "/", 30):
                print(f"{name}: did not start (Granian is in the bench extra)")
                continue
            send = partial(_run, port, clients=args.clients, workers=args.workers)
            send([_HELLO] * (args.requests // 4), api_pid=server.pid)  # warm-up
            phase = send([_HELLO] * args.requests, api_pid=server.pid)
            rows.append((name, phase.rate, phase.cpu.get("API", 0.0)))
        finally:
            server.terminate()
            server.wait()
    print(
        f"{args.clients} keep-alive clients, {args.requests} requests, "
        f"{args.workers} worker(s) x {args.threads} threads, an app that answers 'ok'"
    )
    print(f"{'':18} {'requests/s':>11} {'server CPU ms/request':>22} {'/ gunicorn':>11}")
    base = next((cpu for name, _, cpu in rows if name.startswith("gunicorn")), None)
    for name, rate, cpu_ms in rows:
        against = f"{cpu_ms / base:>11.2f}" if base else f"{'-':>11}"
        print(f"{name:18} {rate:>11,.0f} {cpu_ms:>22.3f} {against}")


if __name__ == "__main__":
    main()
