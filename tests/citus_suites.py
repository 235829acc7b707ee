"""`make test`'s second pass: the suites marked ``citus`` — traces, alerts, tracks,
checks, retention and the register's (persons, permits, settlement, indicators, imports,
monitoring, maps, audit...) — again, on a real Citus cluster (a coordinator and two
workers) where the register and the traces are distributed by person.

The database is ``CITUS_DATABASE_URL`` when given (a coordinator's database the suites
may wipe: never a deployment's own); else, when Citus is installed or its source release is
where ``QONYS_CITUS_SOURCE`` says (ops/citus.py), `qonys services --citus 2` builds
(once, cached under the data folder) and starts one here. Otherwise the pass is skipped,
saying in one line what to get and which setting to set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend.settings import PROJECT_ROOT
from ops import citus, stack


def main() -> int:
    url = os.environ.get("CITUS_DATABASE_URL")
    if not url:
        if not citus.installed() and not citus.source_available():
            print(
                f"citus suites skipped (or set CITUS_DATABASE_URL to a coordinator): "
                f"{citus.missing_source_message()}",
                flush=True,
            )
            return 0
        data_dir = Path(os.environ.get("QONYS_DATA_DIR", PROJECT_ROOT / ".data"))
        try:
            url = citus.start_cluster(data_dir, workers=2).test_url
        except (citus.CitusError, stack.StackError) as exc:
            print(f"citus suites: the cluster could not be started: {exc}", flush=True)
            return 1
    print(f"citus suites on {stack.masked(url)}", flush=True)
    env = dict(os.environ, QONYS_TESTS_ON_CITUS="1", CITUS_DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "citus", "-p", "no:cacheprovider", *sys.argv[1:]],
        env=env,
        cwd=PROJECT_ROOT,
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
