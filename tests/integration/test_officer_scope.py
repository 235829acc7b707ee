"""An officer's region scope follows the person, not where the officer says they stand;
refusals, failed authentication, imports and uploads are audited (issue 12)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.services.tracking import alert_store
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """NOW is read when each test starts, not when the module was imported: a point's
    device time long before it reaches the server reads as backfilled."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture(autouse=True)
def _since(db: Any) -> None:
    """The audit log is append-only and outlives each test: read this test's rows only."""
    global _FIRST
    with db.engine.connect() as conn:
        _FIRST = conn.scalar(text("SELECT coalesce(max(id), 0) FROM audit_log"))


_FIRST = 0


def _audit(db: Any, action: str) -> list[Any]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT actor, role, subject_person_id, purpose FROM audit_log"
                    " WHERE action = :a AND id > :first ORDER BY id"
                ),
                {"a": action, "first": _FIRST},
            )
        )


def _in_almaty(client: Any, admin: Any) -> dict[str, Any]:
    """A labour immigrant registered and permitted in Almaty."""
    person = f.person(client, admin)
    f.registration(client, admin, person["id"], location=f.ALMATY, address="ул. Абая, 10")
    f.permit(client, admin, person["id"], region_kato=f.ALMATY_KATO)
    return person


def test_a_check_outside_the_scope_gives_the_verdict_but_not_the_person(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    person = _in_almaty(client, admin)
    astana = token("officer", region_kato=f.ASTANA_KATO)
    # Met in Astana: the officer learns what to act on (working outside the permit's
    # region), not who the person is, where they live or whose permit it is.
    body = client.post(
        "/api/v1/checks", json={"iin": person["iin"], "location": f.ASTANA}, headers=astana
    ).get_json()
    assert body["verdict"] == "violation" and body["reasons"] == ["outside_permit_region"]
    assert body["outside_scope"] is True
    assert body["person"] is None and body["registration"] is None and body["permit"] is None
    # Claiming to stand in Almaty does not widen it: still refused.
    assert (
        client.post(
            "/api/v1/checks", json={"iin": person["iin"], "location": f.ALMATY}, headers=astana
        ).status_code
        == 403
    )
    # Almaty's officer sees everything, in Almaty.
    almaty = client.post(
        "/api/v1/checks",
        json={"iin": person["iin"], "location": f.ALMATY},
        headers=token("officer", region_kato=f.ALMATY_KATO),
    ).get_json()
    assert almaty["outside_scope"] is False and almaty["person"]["id"] == person["id"]
    assert almaty["registration"]["address"] == "ул. Абая, 10"
    # Both checks are audited against the person, withheld details or not.
    assert [r.subject_person_id for r in _audit(db, "person.check")] == [person["id"]] * 2


def test_a_person_the_register_places_nowhere_is_in_every_scope(
    client: Any, admin: Any, token: Any
) -> None:
    person = f.person(client, admin)
    body = client.post(
        "/api/v1/checks",
        json={"iin": person["iin"], "location": f.ASTANA},
        headers=token("officer", region_kato=f.ASTANA_KATO),
    ).get_json()
    assert body["outside_scope"] is False and body["person"]["id"] == person["id"]
    assert set(body["reasons"]) == {"no_registration", "no_permit"}


def test_last_position_is_for_the_officers_of_the_persons_region(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    person = _in_almaty(client, admin)
    device = token("device", person_id=person["id"])
    # The person is now in Astana.
    sent = client.post(
        "/api/v1/traces",
        json={"points": [{"t": NOW.isoformat(), "lat": 51.16, "lon": 71.47}]},
        headers=device,
    )
    assert sent.status_code in (200, 202)
    url = f"/api/v1/persons/{person['id']}/last-position"
    astana = client.get(url, headers=token("officer", region_kato=f.ASTANA_KATO))
    assert astana.status_code == 404  # the same answer as an unknown position
    assert (
        astana.get_json()["type"]
        == client.get("/api/v1/persons/999999/last-position", headers=token("officer")).get_json()[
            "type"
        ]
    )
    almaty = client.get(url, headers=token("officer", region_kato=f.ALMATY_KATO))
    assert almaty.status_code == 200 and almaty.get_json()["region_kato"] == f.ASTANA_KATO
    refused = _audit(db, "out_of_scope:traces.last_position")
    assert [r.subject_person_id for r in refused] == [person["id"]]
    assert refused[0].role == "officer"


def test_alerts_follow_the_persons_scope_wherever_they_arose(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    person = _in_almaty(client, admin)
    with db.transaction() as session:
        # Arose in Astana, about a person registered in Almaty.
        alert_store.open_alert(session, person["id"], "left_permit_region", f.ASTANA_KATO, {"n": 1})
    astana = token("officer", region_kato=f.ASTANA_KATO)
    almaty = token("officer", region_kato=f.ALMATY_KATO)
    assert client.get("/api/v1/alerts", headers=astana).get_json()["items"] == []
    items = client.get("/api/v1/alerts", headers=almaty).get_json()["items"]
    assert [a["person_id"] for a in items] == [person["id"]]
    # Narrowing by the region where alerts arose stays within the scope.
    narrowed = client.get(f"/api/v1/alerts?region_kato={f.ASTANA_KATO}", headers=almaty)
    assert [a["person_id"] for a in narrowed.get_json()["items"]] == [person["id"]]
    assert (
        client.get(f"/api/v1/alerts?region_kato={f.ASTANA_KATO}", headers=astana).get_json()[
            "items"
        ]
        == []
    )
    url = f"/api/v1/alerts/{items[0]['id']}/resolution"
    assert client.post(url, json={"reason": "x"}, headers=astana).status_code == 404
    assert [r.subject_person_id for r in _audit(db, "out_of_scope:alerts.resolve")] == [
        person["id"]
    ]
    assert client.post(url, json={"reason": "на месте"}, headers=almaty).status_code == 200


def test_failed_authentication_and_refused_access_are_audited(
    client: Any, token: Any, db: Any
) -> None:
    wrong = {"Authorization": "Bearer qonys_not-a-token", "X-Purpose": "case 7"}
    assert client.get("/api/v1/persons/5", headers=wrong).status_code == 401
    failed = _audit(db, "auth_failed:persons.get_person")
    assert [(r.actor, r.role, r.subject_person_id, r.purpose) for r in failed] == [
        ("anonymous", "anonymous", 5, "case 7")
    ]
    officer = token("officer")
    assert client.get("/api/v1/persons/6", headers=officer).status_code == 403
    refused = _audit(db, "refused:persons.get_person")
    assert [(r.role, r.subject_person_id) for r in refused] == [("officer", 6)]
    assert refused[0].actor.startswith("token:")


def test_imported_rows_are_audited_with_their_persons(
    client: Any, app: Any, admin: Any, db: Any
) -> None:
    csv_text = (
        "surname,given_name,birth_date,sex,citizenship,category,document_type,document_number\n"
        "Рахимов,Улугбек,1992-11-30,M,UZB,labour_immigrant,passport,FA7000001\n"
        "Каримова,Дилноза,1995-01-02,F,UZB,labour_immigrant,passport,FA7000002\n"
    )
    resp = client.post(
        "/api/v1/imports/persons",
        data={"file": (io.BytesIO(csv_text.encode()), "persons.csv")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202
    h.run_jobs(app)
    with db.engine.connect() as conn:
        created = set(conn.scalars(text("SELECT id FROM persons")))
    rows = _audit(db, "import.persons")
    assert len(created) == 2 and {r.subject_person_id for r in rows} == created
    assert all(r.role == "admin" and r.purpose.startswith("import ") for r in rows)


def test_an_admin_trace_upload_is_audited_per_person(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    first, second = f.person(client, admin), f.person(client, admin)
    points = [
        {"person_id": p["id"], "t": NOW.isoformat(), "lat": 51.16, "lon": 71.47}
        for p in (first, second)
    ]
    assert client.post("/api/v1/traces", json={"points": points}, headers=admin).status_code in (
        200,
        202,
    )
    rows = _audit(db, "traces.ingest.batch")
    assert sorted(r.subject_person_id for r in rows) == sorted([first["id"], second["id"]])


def test_creating_a_token_at_the_command_line_is_audited(
    client: Any, admin: Any, db: Any, migrated: Any
) -> None:
    person = f.person(client, admin)
    env = {"DATABASE_URL": migrated.database_url}
    h.qonys(
        "token", "create", "--role", "device", "--person", str(person["id"]), env=env, check=True
    )
    rows = _audit(db, "tokens.create")
    assert [r.subject_person_id for r in rows] == [person["id"]]
    assert rows[0].purpose.endswith("(device)")


def test_last_position_is_no_oracle_for_persons_out_of_scope(
    client: Any, admin: Any, token: Any
) -> None:
    """Issue 28, F16: to a region-bound officer, a person of another region and a person
    who does not exist get the same answer, word for word."""
    person = _in_almaty(client, admin)
    astana = token("officer", region_kato=f.ASTANA_KATO)
    there = client.get(f"/api/v1/persons/{person['id']}/last-position", headers=astana)
    nobody = client.get("/api/v1/persons/999999/last-position", headers=astana)
    assert there.status_code == nobody.status_code == 404

    def shown(resp: Any) -> dict[str, Any]:
        body = dict(resp.get_json())
        body.pop("instance", None)
        body.pop("request_id", None)
        body["detail"] = body["detail"].replace(str(person["id"]), "N").replace("999999", "N")
        return body

    assert shown(there) == shown(nobody)
