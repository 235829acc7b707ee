"""Issue 28, F5: rate limits count the verified principal, not the header as written;
unauthenticated failures are limited per address and audited per address and minute."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from sqlalchemy import text

from backend import clock
from backend.api.context import bearer_secret
from backend.app import create_app
from backend.services.access import auth_failures
from backend.settings import Settings


def test_one_token_is_one_bucket_however_the_header_is_written(migrated: Any, token: Any) -> None:
    app = create_app(replace(migrated, api_rate_limit="6/minute"))
    client = app.test_client()
    secret = token("admin")["Authorization"].split()[1]
    variants = [f"Bearer {secret}", f"bearer {secret}", f"BEARER {secret}", f"Bearer  {secret}"]
    answers = [
        client.get(
            "/api/v1/persons", headers={"Authorization": variants[n % 4], "X-Purpose": "tests"}
        ).status_code
        for n in range(8)
    ]
    assert answers == [200] * 6 + [429] * 2


def test_a_header_flask_refuses_is_counted_against_the_address_not_the_token(
    app: Any, token: Any
) -> None:
    """The limit's key reads the header as authentication does (werkzeug): a token after a
    tab is no token there, so its 401 is the address's, never the token's bucket."""
    secret = token("admin")["Authorization"].split()[1]
    for header, read in ((f"Bearer {secret}", secret), (f"Bearer\t{secret}", "")):
        with app.test_request_context(headers={"Authorization": header}):
            assert bearer_secret() == read
    refused = app.test_client().get(
        "/api/v1/persons", headers={"Authorization": f"Bearer\t{secret}", "X-Purpose": "t"}
    )
    assert refused.status_code == 401


def _default_budget(migrated: Any) -> Any:
    """The app with the default budget of failed authentication per address (the test
    settings lift it for schemathesis, which resends everything without credentials)."""
    default = Settings.__dataclass_fields__["auth_failure_limit"].default
    return create_app(replace(migrated, auth_failure_limit=default))


def test_made_up_tokens_from_one_address_get_429_and_few_audit_rows(db: Any, migrated: Any) -> None:
    """The attack sent 1,300 random bearer values: each was a 401 and an audit row. Here
    250 against the default budget of 100 a minute."""
    app = _default_budget(migrated)
    client = app.test_client()
    before = _count(db, "SELECT count(*) FROM audit_log WHERE action LIKE 'auth_failed%'")
    statuses = [
        client.get(
            "/api/v1/persons/1",
            headers={"Authorization": f"Bearer qny_{secrets.token_urlsafe(32)}"},
            environ_base={"REMOTE_ADDR": "10.9.0.1"},
        ).status_code
        for _ in range(250)
    ]
    assert set(statuses) == {401, 429} and statuses.count(401) <= 200
    assert statuses[0] == 401 and statuses[-1] == 429
    # Row by row only the first failure of each minute (the run spans one or two).
    rows = _count(db, "SELECT count(*) FROM audit_log WHERE action LIKE 'auth_failed:%'")
    assert rows - before <= 2
    redis_conn = app.extensions["qonys.redis"]
    with db.transaction() as session:
        minutes = auth_failures.flush(session, redis_conn, clock.now().timestamp() + 120)
    auth_failures.forget(redis_conn, minutes)
    with db.engine.connect() as conn:
        counted = conn.execute(
            text(
                "SELECT purpose FROM audit_log WHERE action = 'auth_failed.minute'"
                " AND purpose LIKE '10.9.0.1:%'"
            )
        ).scalars()
        total = sum(int(p.split()[1]) for p in counted)
    assert total == 250
    assert redis_conn.zcard(auth_failures.MINUTES) == 0


def test_a_valid_token_from_that_address_is_not_refused_for_others_guesses(
    migrated: Any, token: Any
) -> None:
    client = _default_budget(migrated).test_client()
    headers = {**token("admin"), "X-Purpose": "tests"}
    for _ in range(101):
        client.get("/api/v1/persons", headers={"Authorization": "Bearer qny_nope"})
    assert client.get("/api/v1/persons", headers=headers).status_code == 200


def _count(db: Any, sql: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())
