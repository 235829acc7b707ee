"""The floor under an officer's check: what the server and Flask cost with nothing of ours.

``bench.checks --floor`` serves these two apps under the same gunicorn, beside the API,
and sends them the same checks. Each runs the raw baseline's own statements (the lookup,
then the check and its audit row in one statement, autocommit) on a psycopg2 connection
per thread, prepared once per connection as the API's are, and answers the verdict as
JSON:

- ``flask_app``: the thinnest Flask view: a bearer header required, the JSON body read,
  ``jsonify`` out; no schemas, hooks, token lookup, rate limit, audit context or rules;
- ``bare``: the same without Flask, a plain WSGI callable.

What the API costs above ``flask_app`` is ours: its schemas, hooks, token and limit,
SQLAlchemy and the check's rules. What ``flask_app`` costs above the raw SQL is the HTTP
server's and Flask's, which no change of ours can take away on this machine.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

import psycopg2
from flask import Flask, jsonify, request

from bench.checks import RAW_CHECK, RAW_WRITES

_local = threading.local()


def _prepared(sql: str, name: str, types: dict[str, str]) -> tuple[str, str]:
    """``PREPARE`` and ``EXECUTE`` of one of the raw statements, planned once per
    connection as the API's hot statements are (backend.db.Prepared)."""
    names = list(types)
    body = sql
    for i, key in enumerate(names, 1):
        body = body.replace(f"%({key})s", f"CAST(${i} AS {types[key]})")
    values = ", ".join(f"%({key})s" for key in names)
    return f"PREPARE {name} AS {body}", f"EXECUTE {name}({values})"


_LOOKUP = _prepared(RAW_CHECK, "floor_lookup", {"iin": "varchar", "lon": "float8", "lat": "float8"})
_STORE = _prepared(
    RAW_WRITES,
    "floor_store",
    {"pid": "bigint", "region": "varchar", "lon": "float8", "lat": "float8"},
)


def _check(body: dict[str, Any]) -> dict[str, Any]:
    if not hasattr(_local, "conn"):
        _local.conn = psycopg2.connect(os.environ["DATABASE_URL"])
        _local.conn.autocommit = True
        with _local.conn.cursor() as cur:
            cur.execute(_LOOKUP[0])
            cur.execute(_STORE[0])
    with _local.conn.cursor() as cur:
        cur.execute(_LOOKUP[1], {"iin": body["iin"], **body["location"]})
        found = cur.fetchall()
        pid, _category, region = found[0][:3] if found else (None, None, None)
        cur.execute(_STORE[1], {"pid": pid, "region": region, **body["location"]})
    return {"verdict": "ok" if pid else "not_found", "person_id": pid, "region": region}


flask_app = Flask(__name__)


@flask_app.get("/health")
def health() -> str:
    return "ok"


@flask_app.post("/api/v1/checks")
def check() -> Any:
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return {"detail": "missing bearer token"}, 401
    return jsonify(_check(request.get_json()))


def bare(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
    """The same check as a plain WSGI callable."""
    if environ["PATH_INFO"] == "/health":
        out = b"ok"
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        out = json.dumps(_check(json.loads(environ["wsgi.input"].read(length)))).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))]
    )
    return [out]
