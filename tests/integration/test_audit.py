from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.db import Database
from tests import factories as f

# On Citus (tests/citus_suites.py) only the tests marked below: the rest exercise
# nothing that differs between the engines.


def _audit_rows(db: Any, request_id: str) -> list[Any]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT actor, role, action, subject_person_id, purpose FROM audit_log"
                    " WHERE request_id = :r"
                ),
                {"r": request_id},
            )
        )


def test_read_with_purpose_is_audited(client: Any, admin: Any, token: Any, db: Any) -> None:
    person = f.person(client, admin)
    resp = client.get(
        f"/api/v1/persons/{person['id']}", headers={**token("analyst"), "X-Purpose": "case 2026/17"}
    )
    assert resp.status_code == 200
    rows = _audit_rows(db, resp.headers["X-Request-Id"])
    assert [(r.role, r.action, r.subject_person_id, r.purpose) for r in rows] == [
        ("analyst", "person.read", person["id"], "case 2026/17")
    ]


@pytest.mark.citus
def test_write_is_audited(client: Any, admin: Any, db: Any) -> None:
    resp = client.post(
        "/api/v1/persons",
        json={
            "surname": "A",
            "given_name": "B",
            "birth_date": "1991-01-02",
            "sex": "F",
            "citizenship": "KGZ",
            "category": "labour_immigrant",
        },
        headers=admin,
    )
    rows = _audit_rows(db, resp.headers["X-Request-Id"])
    assert [(r.action, r.subject_person_id) for r in rows] == [
        ("person.create", resp.get_json()["id"])
    ]


def test_analyst_without_purpose_is_refused_and_nothing_read(
    client: Any, admin: Any, token: Any
) -> None:
    person = f.person(client, admin)
    resp = client.get(f"/api/v1/persons/{person['id']}", headers=token("analyst"))
    assert resp.status_code == 403
    assert "X-Purpose" in resp.get_json()["detail"]
    assert "surname" not in resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET purpose = 'rewritten'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
def test_audit_log_is_append_only(
    client: Any, admin: Any, db: Any, migrated: Any, statement: str
) -> None:
    """Even the tables' owner is refused by the triggers (the app, as the runtime role,
    lacks the privilege in the first place: see test_audit_integrity)."""
    f.person(client, admin)
    owner = Database(migrated.database_url, pool_size=1)
    try:
        with pytest.raises(DBAPIError, match="append-only"), owner.engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        owner.dispose()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() > 0


@pytest.mark.citus
def test_searches_and_pages_are_audited_with_their_filter_even_when_empty(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    person = f.person(client, admin, iin=f.valid_iin())
    analyst = {**token("analyst"), "X-Purpose": "case 2026/90"}
    nobody = client.get(f"/api/v1/persons?iin={f.valid_iin()}", headers=analyst)
    assert nobody.status_code == 200 and nobody.get_json()["items"] == []
    found = client.get(f"/api/v1/persons?iin={person['iin']}", headers=analyst)
    page = client.get("/api/v1/persons?limit=5", headers=analyst)
    rows = [
        [
            (r.action, r.subject_person_id, r.purpose)
            for r in _audit_rows(db, resp.headers["X-Request-Id"])
        ]
        for resp in (nobody, found, page)
    ]
    assert rows == [
        [("person.search", None, "case 2026/90")],
        [("person.search", person["id"], "case 2026/90")],
        [("person.list", person["id"], "case 2026/90")],
    ]
