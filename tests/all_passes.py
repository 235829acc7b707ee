"""`make test`'s two test passes, at the same time: the plain suite in the foreground,
and the Citus pass (tests/citus_suites.py) beside it, on its own cluster and Redis
database, its output kept in a log and printed when it ends.

Many of the plain suite's minutes are spent waiting (outage drills, browsers, servers
starting), so the two passes share the machine's two cores well: the wall time is about
the plain suite's, not the sum. The Citus cluster is built and started first, because a
build that upgrades PostgreSQL restarts the plain cluster.

Arguments go to both pytest runs (for example ``-x`` or ``-k``).
"""

from __future__ import annotations

import subprocess
import sys
import time

from backend.settings import PROJECT_ROOT
from ops import stack
from tests import citus_suites


def main(args: list[str]) -> int:
    data_dir = stack.project_data_dir()
    log = data_dir / "citus-pass.log"
    citus: subprocess.Popen[bytes] | None = None
    citus_rc = 0
    try:
        url = citus_suites.prepare()
    except citus_suites.Skipped as skipped:
        print(skipped, flush=True)
    except citus_suites.Unavailable as exc:
        print(exc, flush=True)
        citus_rc = 1
    else:
        argv, env = citus_suites.command(url, args)
        print(
            f"citus suites on {stack.masked(url)}, running beside the plain suite (log: {log})",
            flush=True,
        )
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            citus = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=out)
    started = time.monotonic()
    plain = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=PROJECT_ROOT)
    if citus is not None:
        if citus.poll() is None:
            print("\nthe plain suite is done; waiting for the Citus pass…", flush=True)
        citus_rc = citus.wait()
        print(f"\n===== the Citus pass ({time.monotonic() - started:.0f} s) =====", flush=True)
        sys.stdout.write(log.read_text(errors="replace"))
        sys.stdout.flush()
    return plain.returncode or citus_rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
