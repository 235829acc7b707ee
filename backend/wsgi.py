"""WSGI entry point for gunicorn: ``gunicorn backend.wsgi:app``."""

import gc
import sys

from backend.app import create_app
from backend.settings import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    # A setting that cannot work stops the worker with one line naming the variable;
    # exit code 3 tells gunicorn the worker cannot boot, so the server stops too.
    sys.stderr.write(f"qonys: {exc}\n")
    raise SystemExit(3) from exc

# The app's own objects (modules, routes, schemas, the SQLAlchemy metadata) live as long
# as the worker: moved out of the collector's view, a full collection no longer walks
# them all (about 0.03 ms of a phone request's 0.24 in-process, bench note in README).
# Collected first: a cycle left over from building the app would be kept for good.
gc.collect()
gc.freeze()
