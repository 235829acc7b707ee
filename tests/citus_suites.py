"""`make test`'s second pass: the suites marked ``citus`` — traces, alerts, tracks,
checks, retention and the register's (persons, permits, settlement, indicators, imports,
monitoring, maps, audit...) — again, on a real Citus cluster (a coordinator and two
workers) where the register and the traces are distributed by person.

The database is ``CITUS_DATABASE_URL`` when given (a coordinator's database the suites
may wipe: never a deployment's own); else, when Citus is installed or its source release is
where ``QONYS_CITUS_SOURCE`` says (ops/citus.py), `qonys services --citus 2` builds
(once, cached under the data folder) and starts one here. Otherwise the pass is skipped,
saying in one line what to get and which setting to set.

The pass has a Redis database of its own (``QONYS_CITUS_TEST_REDIS_DB``, 14), so it can
run beside the plain suite (tests/all_passes.py, as `make test` does).
"""

from __future__ import annotations

import os
import subprocess
import sys

from backend.settings import PROJECT_ROOT
from ops import citus, stack


class Skipped(Exception):
    """No Citus here, and none asked for: the pass is skipped, saying what to get."""


class Unavailable(Exception):
    """Citus was expected but its cluster could not be started: the pass fails."""


def prepare() -> str:
    """The coordinator's test database: the given one, or a cluster's started here (built
    first if need be; a build that upgrades PostgreSQL restarts the plain cluster, so do
    this before the plain suite starts)."""
    url = os.environ.get("CITUS_DATABASE_URL")
    if url:
        return url
    if not citus.installed() and not citus.source_available():
        raise Skipped(
            f"citus suites skipped (or set CITUS_DATABASE_URL to a coordinator): "
            f"{citus.missing_source_message()}"
        )
    data_dir = stack.project_data_dir()
    try:
        return citus.start_cluster(data_dir, workers=2).test_url
    except (citus.CitusError, stack.StackError) as exc:
        raise Unavailable(f"citus suites: the cluster could not be started: {exc}") from exc


def command(url: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The pytest command of the Citus pass, and its environment."""
    env = dict(
        os.environ,
        QONYS_TESTS_ON_CITUS="1",
        CITUS_DATABASE_URL=url,
        QONYS_TEST_REDIS_DB=os.environ.get("QONYS_CITUS_TEST_REDIS_DB", "14"),
    )
    argv = [sys.executable, "-m", "pytest", "-m", "citus", "-p", "no:cacheprovider", *args]
    return argv, env


def main() -> int:
    try:
        url = prepare()
    except Skipped as skipped:
        print(skipped, flush=True)
        return 0
    except Unavailable as exc:
        print(exc, flush=True)
        return 1
    print(f"citus suites on {stack.masked(url)}", flush=True)
    argv, env = command(url, sys.argv[1:])
    return subprocess.run(argv, env=env, cwd=PROJECT_ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
