"""Where an API process spends its time: py-spy, sampling a running gunicorn, summarised.

``profiled(pid, seconds)`` records every process under ``pid`` (the master and its
workers) while the caller drives load, then prints the share of samples by layer (waiting
on PostgreSQL, SQLAlchemy, marshmallow, JSON, Flask/APIFlask/Werkzeug, our code) and the
functions that hold the most samples themselves. py-spy samples without slowing the
process much, so the profile is of the API as served.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# (layer, substring of a frame's file) — the first layer found from the leaf up wins.
LAYERS = (
    ("waiting on PostgreSQL (psycopg2)", "psycopg2"),
    ("SQLAlchemy", "sqlalchemy/"),
    ("marshmallow / apispec", "marshmallow/"),
    ("JSON", "json/"),
    ("flask-limiter / limits / Redis", "limits/"),
    ("flask-limiter / limits / Redis", "flask_limiter/"),
    ("flask-limiter / limits / Redis", "redis/"),
    ("Flask / APIFlask / Werkzeug", "werkzeug/"),
    ("Flask / APIFlask / Werkzeug", "flask/"),
    ("Flask / APIFlask / Werkzeug", "apiflask/"),
    ("gunicorn (HTTP, sockets)", "gunicorn/"),
    # py-spy names the project's files relative to the working directory: "(backend/…".
    ("Qonys code", "(backend/"),
    ("Qonys code", "/backend/"),
    ("Qonys code", "(gis/"),
    ("Qonys code", "/gis/"),
)


@contextlib.contextmanager
def profiled(pid: int, seconds: int, out: Path | None = None) -> Iterator[Path]:
    """Sample ``pid`` and its children for ``seconds`` (py-spy, collapsed stacks)."""
    beside = Path(sys.executable).parent / "py-spy"  # the venv's, when not on PATH
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("py-spy is not installed (it is in the dev extras)")
    path = out or Path(tempfile.mkstemp(suffix=".txt", prefix="qonys-profile-")[1])
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(seconds),
            "--output",
            str(path),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield path
    finally:
        proc.wait(timeout=seconds + 60)


def summarise(path: Path, top: int = 12) -> str:
    """Shares by layer (inclusive of the leaf's layer) and the top self-time functions."""
    layers: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # Idle threads are not work: gunicorn's waiting for connections, its thread pool's
        # waiting for a request, and each worker's token-revocation listener (Redis
        # pub/sub, blocked in a read or its keep-alive ping).
        if (
            any("wait (threading.py" in f or "select (selectors.py" in f for f in frames[-3:])
            or frames[-1].startswith("_worker (concurrent/futures/thread.py")
            or any("TokenCache._listen" in f for f in frames)
        ):
            continue
        total += count
        leaves[frames[-1]] += count
        for frame in reversed(frames):
            layer = next((name for name, part in LAYERS if part in frame), None)
            if layer:
                layers[layer] += count
                break
        else:
            layers["other (interpreter, stdlib)"] += count
    if not total:
        return "no samples"
    lines = [f"{total:,} busy samples"]
    lines += [f"  {share / total:6.1%}  {name}" for name, share in layers.most_common()]
    lines.append("top functions by own samples:")
    lines += [f"  {n / total:6.1%}  {frame[:110]}" for frame, n in leaves.most_common(top)]
    return "\n".join(lines)
