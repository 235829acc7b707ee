"""Issue 28, F1: four eyes are two people. Every token has an owner; separation of duties
compares the person behind a request (:attr:`Principal.person`), never the credential."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from backend.cli import alembic_config, migrate
from backend.db import sqlalchemy_url
from backend.errors import Invalid
from backend.services.access import accounts
from backend.services.access.accounts import principal_of
from backend.services.access.tokens import create_token, owner_of_account, verify_token
from tests import factories as f
from tests import helpers as h

YEAR = date.today().year
PAVLODAR_REGION = "550000000"
BODY = {"decision": "issue", "reason": "moved away"}


@pytest.fixture
def suspected(client: Any, admin: Any, db: Any) -> str:
    """A kandas family admitted to Pavlodar, then registered in Almaty: a suspected breach.
    Returns the decision URL."""
    kato = h.settlement_kato(db, "Pavlodar")
    client.put(
        f"/api/v1/quotas/{YEAR}/{PAVLODAR_REGION}",
        json={"kandas": 10, "resettlers": 5},
        headers=admin,
    )
    client.put(
        f"/api/v1/settlement-lists/{YEAR}/{PAVLODAR_REGION}",
        json={"settlements": [kato]},
        headers=admin,
    )
    person = f.person(client, admin, citizenship="KAZ", category="kandas", iin=f.valid_iin())
    applied = client.post(
        "/api/v1/kandas/applications",
        json={
            "person_id": person["id"],
            "family_size": 2,
            "settlement_kato": kato,
            "support": {"housing_subsidy_mrp_per_month": 15, "housing_subsidy_months": 12},
        },
        headers=admin,
    )
    assert applied.status_code == 201, applied.get_json()
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    return f"/api/v1/kandas/{person['id']}/obligation/decision"


def _tokens_of(db: Any, username: str, n: int) -> list[dict[str, str]]:
    with db.transaction() as session:
        owner = owner_of_account(session, username)
        secrets = [create_token(session, "settlement_official", owner=owner)[0] for _ in range(n)]
    return [{"Authorization": f"Bearer {s}"} for s in secrets]


def test_two_tokens_of_one_person_are_one_pair_of_eyes(
    client: Any, db: Any, suspected: str
) -> None:
    with db.transaction() as session:
        accounts.create_user(session, "aigul", "settlement_official", "correct horse battery")
        accounts.create_user(session, "berik", "settlement_official", "correct horse battery")
    first, second = _tokens_of(db, "aigul", 2)
    assert client.post(suspected, json=BODY, headers=first).get_json()["status"] == "suspected"
    again = client.post(suspected, json=BODY, headers=second)
    assert again.status_code == 409 and "second settlement official" in again.get_json()["detail"]
    (other,) = _tokens_of(db, "berik", 1)
    decided = client.post(suspected, json=BODY, headers=other).get_json()
    assert decided["status"] == "breached"
    assert decided["claim"]["first_official"] == "user:aigul"
    assert decided["claim"]["issued_by"] == "user:berik"


def test_a_token_and_a_session_of_one_account_are_one_person(db: Any) -> None:
    with db.transaction() as session:
        user = accounts.create_user(session, "dana", "admin", "correct horse battery")
        secret, row = create_token(session, "admin", owner=owner_of_account(session, "dana"))
        by_token = verify_token(session, secret)
        by_session = principal_of(user)
    assert by_token is not None and row.owner == "user:dana"
    assert by_token.person == by_session.person == "user:dana"
    assert by_token.actor != by_session.actor  # the audit still names the credential


def _qonys(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", "token", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
        check=False,
    )


def test_cli_tokens_belong_to_the_operator_or_the_named_account(
    migrated: Any, client: Any, db: Any, suspected: str
) -> None:
    """The attack: one operator makes two settlement officials' tokens with `qonys token
    create` and issues the claim with each. Both are the operator's: the second confirm is 409."""
    made = [_qonys("create", "--role", "settlement_official") for _ in range(2)]
    assert all(m.returncode == 0 for m in made), made[0].stderr
    assert f"owned by cli:{getpass.getuser()}" in made[0].stderr
    first, second = ({"Authorization": f"Bearer {m.stdout.split()[-1]}"} for m in made)
    assert client.post(suspected, json=BODY, headers=first).status_code == 200
    assert client.post(suspected, json=BODY, headers=second).status_code == 409
    unknown = _qonys("create", "--role", "admin", "--owner", "no-such-account")
    assert unknown.returncode != 0 and "no account named" in unknown.stderr
    with db.transaction() as session:
        accounts.create_user(session, "yerlan", "settlement_official", "correct horse battery")
    named = _qonys("create", "--role", "settlement_official", "--owner", "yerlan")
    assert named.returncode == 0 and "owned by user:yerlan" in named.stderr
    third = {"Authorization": f"Bearer {named.stdout.split()[-1]}"}
    assert client.post(suspected, json=BODY, headers=third).get_json()["status"] == "breached"
    listed = _qonys("list").stdout
    assert "user:yerlan" in listed and f"cli:{getpass.getuser()}" in listed


def test_every_token_needs_an_owner(db: Any) -> None:
    with db.transaction() as session, pytest.raises(Invalid, match="named person"):
        create_token(session, "admin", owner="")


def test_existing_tokens_migrate_with_their_owner(migrated: Any) -> None:
    """Before 0018 tokens had no owner: each takes the operator the audit log recorded
    creating it, else one shared `legacy:unowned` (two of those never make four eyes)."""
    cfg = alembic_config(migrated.database_url)
    engine = create_engine(sqlalchemy_url(migrated.database_url))
    try:
        command.downgrade(cfg, "0017")
        with engine.begin() as conn:
            # Ids no other test's `token create` has written into the audit log.
            known, unknown = 900_001, 900_002
            conn.execute(
                text(
                    "INSERT INTO api_tokens (id, token_hash, role) VALUES"
                    " (:k, md5('a') || md5('a'), 'admin'), (:u, md5('b') || md5('b'), 'admin')"
                ),
                {"k": known, "u": unknown},
            )
            conn.execute(
                text(
                    "INSERT INTO audit_log (actor, role, action, purpose)"
                    " VALUES ('cli:ops', 'admin', 'tokens.create', :why)"
                ),
                {"why": f"token {known} (admin)"},
            )
        command.upgrade(cfg, "head")
        migrate(migrated)  # the runtime role's rights on what the upgrade recreated
        with engine.connect() as conn:
            owners = dict(conn.execute(text("SELECT id, owner FROM api_tokens")).all())
        assert owners == {known: "cli:ops", unknown: "legacy:unowned"}
    finally:
        engine.dispose()
