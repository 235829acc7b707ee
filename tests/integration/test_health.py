import shutil
import subprocess
import time
from dataclasses import replace
from typing import Any

import pytest
import redis

from backend.app import create_app
from tests import helpers as h


def test_health_ok(client: Any) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "ok", "queue": "ok"}


@pytest.fixture
def own_redis(tmp_path: Any) -> Any:
    """A Redis server of this test's own, so it can really be stopped."""
    port = h.free_port()
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp_path),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    yield url, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_health_reports_stopped_redis(migrated: Any, own_redis: Any) -> None:
    url, proc = own_redis
    app = create_app(migrated.__class__(**{**migrated.__dict__, "redis_url": url}))
    client = app.test_client()
    assert client.get("/health").status_code == 200
    proc.terminate()
    proc.wait()
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "degraded", "database": "ok", "queue": "down"}
    app.extensions["qonys.db"].dispose()


def test_health_reports_unreachable_database(migrated: Any) -> None:
    dead = f"postgresql://qonys:qonys@127.0.0.1:{h.free_port()}/qonys"
    app = create_app(migrated.__class__(**{**migrated.__dict__, "database_url": dead}))
    resp = app.test_client().get("/health")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "down"
    assert resp.get_json()["queue"] == "ok"


def test_a_database_outage_answers_503_with_retry_after(migrated: Any) -> None:
    """Nobody listens on the database port: 503 problem+json, never a 500."""
    down = replace(
        migrated, database_url="postgresql://qonys:qonys@127.0.0.1:9/qonys", app_database_url=None
    )
    app = create_app(down)
    try:
        resp = app.test_client().get(
            "/api/v1/persons", headers={"Authorization": "Bearer qny_whatever"}
        )
    finally:
        app.extensions["qonys.db"].dispose()
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    assert resp.headers["Retry-After"] == "5"
    assert "unavailable" in resp.get_json()["detail"]
