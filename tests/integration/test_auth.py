import subprocess
import sys
from typing import Any

from sqlalchemy import text

from backend.services.access.tokens import announce_revocation, find_token, revoke_token


def test_no_token_is_401_problem(client: Any) -> None:
    resp = client.get("/api/v1/persons/1")
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == 401


def test_unknown_token_is_401(client: Any) -> None:
    resp = client.get("/api/v1/persons/1", headers={"Authorization": "Bearer qny_nope"})
    assert resp.status_code == 401


def test_wrong_role_is_403(client: Any, token: Any) -> None:
    resp = client.post("/api/v1/persons", json={}, headers=token("officer"))
    assert resp.status_code == 403
    assert resp.mimetype == "application/problem+json"


def test_revoked_token_is_401_at_once(client: Any, token: Any, db: Any, app: Any) -> None:
    """Revocation goes through the service, which tells every process's token cache."""
    headers = {**token("admin"), "X-Purpose": "tests"}
    assert client.get("/api/v1/persons", headers=headers).status_code == 200  # now cached
    with db.transaction() as session:
        digest = revoke_token(session, find_token(session, headers["Authorization"][7:])).token_hash
    announce_revocation(app.extensions["qonys.redis"], digest)
    assert client.get("/api/v1/persons", headers=headers).status_code == 401


def test_only_the_hash_is_stored(token: Any, db: Any) -> None:
    secret = token("analyst")["Authorization"].split()[1]
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert len(stored) == 1 and secret not in stored[0] and len(stored[0]) == 64


def test_cli_prints_token_alone_on_last_line(migrated: Any, client: Any) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "backend.cli", "token", "create", "--role", "admin"],
        capture_output=True,
        text=True,
        check=True,
    )
    secret = out.stdout.strip().splitlines()[-1]
    assert secret.startswith("qny_") and " " not in secret
    resp = client.get(
        "/api/v1/persons", headers={"Authorization": f"Bearer {secret}", "X-Purpose": "tests"}
    )
    assert resp.status_code == 200


def test_cli_refuses_employer_token_without_bin(migrated: Any) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "backend.cli", "token", "create", "--role", "employer"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "BIN" in out.stderr
