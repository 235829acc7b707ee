import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from backend.db import Database
from backend.services.access import idempotency
from tests import helpers as h

# On Citus (tests/citus_suites.py) only the tests marked below: the rest exercise
# nothing that differs between the engines.

FOREIGNER = {
    "surname": "Саидов",
    "given_name": "Далер",
    "birth_date": "1993-04-12",
    "sex": "M",
    "citizenship": "TJK",
    "category": "labour_immigrant",
}


def test_same_key_same_body_replays(client: Any, admin: Any, db: Any) -> None:
    headers = {**admin, "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/persons", json=FOREIGNER, headers=headers)
    second = client.post("/api/v1/persons", json=FOREIGNER, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert h.count(db, "persons") == 1


def test_the_same_json_written_otherwise_replays(client: Any, admin: Any, db: Any) -> None:
    """A retry whose client re-serialises the body (spaces, key order) is the same request."""
    headers = {**admin, "Idempotency-Key": "k-json", "Content-Type": "application/json"}
    compact = json.dumps(FOREIGNER, separators=(",", ":"), ensure_ascii=False)
    spaced = json.dumps(dict(reversed(list(FOREIGNER.items()))), indent=2, ensure_ascii=False)
    first = client.post("/api/v1/persons", data=compact.encode(), headers=headers)
    second = client.post("/api/v1/persons", data=spaced.encode(), headers=headers)
    assert first.status_code == second.status_code == 201, second.get_json()
    assert first.get_json() == second.get_json()
    assert h.count(db, "persons") == 1


def test_same_key_other_body_is_422(client: Any, admin: Any, db: Any) -> None:
    headers = {**admin, "Idempotency-Key": "k-2"}
    assert client.post("/api/v1/persons", json=FOREIGNER, headers=headers).status_code == 201
    other = client.post("/api/v1/persons", json={**FOREIGNER, "surname": "Другой"}, headers=headers)
    assert other.status_code == 422
    assert other.get_json()["errors"][0]["field"] == "Idempotency-Key"
    assert h.count(db, "persons") == 1


@pytest.mark.citus
def test_concurrent_retries_write_once(app: Any, admin: Any, db: Any) -> None:
    def post(_: int) -> tuple[int, str]:
        resp = app.test_client().post(
            "/api/v1/persons", json=FOREIGNER, headers={**admin, "Idempotency-Key": "k-3"}
        )
        return resp.status_code, resp.get_json()["iin"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(post, range(12)))
    assert {status for status, _ in results} == {201}
    assert len({iin for _, iin in results}) == 1
    assert h.count(db, "persons") == 1


def test_failed_write_is_not_remembered(client: Any, admin: Any, db: Any) -> None:
    headers = {**admin, "Idempotency-Key": "k-4"}
    bad = client.post(
        "/api/v1/persons", json={**FOREIGNER, "birth_date": "2999-01-01"}, headers=headers
    )
    assert bad.status_code == 422 and h.count(db, "persons") == 0
    # The corrected request may reuse the key; from then on it replays.
    good = client.post("/api/v1/persons", json=FOREIGNER, headers=headers)
    replay = client.post("/api/v1/persons", json=FOREIGNER, headers=headers)
    assert good.status_code == replay.status_code == 201
    assert good.get_json()["id"] == replay.get_json()["id"] and h.count(db, "persons") == 1


def test_the_key_lock_holds_no_transaction_open_while_the_write_runs(
    db: Any, migrated: Any
) -> None:
    """The key's session lock was taken in a transaction left idle for the whole write:
    past the API's idle-in-transaction bound the server would end the session, its lock
    with it (and the unlock would fail after the write had committed). It is taken in
    autocommit: held, with no transaction open."""
    owner = Database(migrated.database_url, pool_size=1)  # sees every session's state
    advisory = text(
        "SELECT a.pid, a.state, l.mode FROM pg_locks l"
        " JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND a.pid <> pg_backend_pid()"
    )
    seen: list[Any] = []

    def write() -> tuple[Any, int]:
        with owner.engine.connect() as conn:
            seen.extend(conn.execute(advisory).all())
        return {"ok": True}, 201

    try:
        with owner.engine.connect() as conn:
            before = set(conn.execute(advisory).all())  # the suite's own run lock
        body, status = idempotency.run_once(db, "token:1", "/x", "k-lock", "fingerprint", write)
    finally:
        owner.dispose()
    assert (body, status) == ({"ok": True}, 201)
    assert [(state, mode) for _pid, state, mode in set(seen) - before] == [
        ("idle", "ExclusiveLock")
    ]
