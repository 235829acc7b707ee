from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests import factories as f

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def _check(client: Any, officer: Any, **body: Any) -> dict:
    body.setdefault("location", f.ASTANA)
    resp = client.post("/api/v1/checks", json=body, headers=officer)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_not_found(client: Any, token: Any) -> None:
    result = _check(client, token("officer"), iin=f.valid_iin())
    assert result["verdict"] == "not_found" and result["person"] is None


def test_ok_by_iin_and_by_document(client: Any, admin: Any, token: Any) -> None:
    person = f.person(client, admin, document={"type": "passport", "number": "FA7777777"})
    f.registration(client, admin, person["id"])
    f.permit(client, admin, person["id"])
    officer = token("officer")
    assert _check(client, officer, iin=person["iin"])["verdict"] == "ok"
    result = _check(client, officer, document_number="FA7777777")
    assert result["verdict"] == "ok" and result["person"]["id"] == person["id"]
    assert set(result["person"]) == {
        "id",
        "iin",
        "surname",
        "given_name",
        "birth_date",
        "citizenship",
        "category",
    }


def test_violations(client: Any, admin: Any, token: Any, db: Any) -> None:
    officer = token("officer")
    nothing = f.person(client, admin)
    assert _check(client, officer, iin=nothing["iin"])["reasons"] == [
        "no_registration",
        "no_permit",
    ]

    outside = f.person(client, admin)
    f.registration(client, admin, outside["id"], location=f.ALMATY)
    f.permit(client, admin, outside["id"], region_kato=f.ASTANA_KATO)
    at_almaty = _check(client, officer, iin=outside["iin"], location=f.ALMATY)
    assert at_almaty["reasons"] == ["outside_permit_region"]
    assert _check(client, officer, iin=outside["iin"], location=f.ASTANA)["verdict"] == "ok"

    expired = f.person(client, admin)
    f.registration(client, admin, expired["id"], valid_from="2025-01-01", valid_to="2025-03-01")
    f.permit(client, admin, expired["id"], valid_from="2025-01-01", valid_to="2025-06-30")
    result = _check(client, officer, iin=expired["iin"])
    assert result["reasons"] == ["registration_expired", "permit_expired"]
    assert result["permit"]["status"] == "expired"


def test_citizen_needs_only_a_registration(client: Any, admin: Any, token: Any) -> None:
    person = f.person(
        client, admin, citizenship="KAZ", category="citizen", iin=f.valid_iin(date(1990, 5, 17))
    )
    f.registration(client, admin, person["id"], kind="permanent", valid_to=None)
    assert _check(client, token("officer"), iin=person["iin"])["verdict"] == "ok"


def test_check_is_stored_with_place_and_time(client: Any, admin: Any, token: Any, db: Any) -> None:
    person = f.person(client, admin)
    result = _check(client, token("officer"), iin=person["iin"], location=f.PAVLODAR)
    with db.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT person_id, verdict, region_kato, ST_Y(geom), ST_X(geom), checked_at"
                " FROM officer_checks WHERE id = :i"
            ),
            {"i": result["check_id"]},
        ).one()
    assert row[0] == person["id"] and row[1] == "violation" and row[2] == f.PAVLODAR_KATO
    assert (round(row[3], 4), round(row[4], 4)) == (f.PAVLODAR["lat"], f.PAVLODAR["lon"])
    assert row[5].date() >= date.today() - timedelta(days=1)


def test_a_check_and_its_audit_row_are_written_together_or_not_at_all(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    """One statement stores the check and the audit row of reading the person: both carry
    the request's id; a refused check (abroad, another region) leaves neither."""
    person = f.person(client, admin)
    officer = token("officer", region_kato=f.ASTANA_KATO)
    resp = client.post(
        "/api/v1/checks",
        json={"iin": person["iin"], "location": f.ASTANA},
        headers={**officer, "X-Request-Id": "officer-app-17"},
    )
    assert resp.status_code == 200
    rid, check_id = resp.headers["X-Request-Id"], resp.get_json()["check_id"]
    for location in (f.BISHKEK, f.ALMATY):  # 422, then 403
        refused = client.post(
            "/api/v1/checks", json={"iin": person["iin"], "location": location}, headers=officer
        )
        assert refused.status_code in (403, 422)
    with db.engine.connect() as conn:
        audit = conn.execute(
            text(
                "SELECT subject_person_id, role, client_request_id, id FROM audit_log"
                " WHERE action = 'person.check' AND request_id = CAST(:r AS uuid)"
            ),
            {"r": rid},
        ).all()
        checks = conn.execute(
            text("SELECT id FROM officer_checks WHERE person_id = :p"), {"p": person["id"]}
        ).scalars()
        # (the audit log is append-only: earlier tests' rows are still there)
        later = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'person.check' AND id > :i"),
            {"i": audit[0].id if audit else 0},
        ).scalar_one()
    assert [tuple(a)[:3] for a in audit] == [(person["id"], "officer", "officer-app-17")]
    assert list(checks) == [check_id] and later == 0


def test_region_limited_officer(client: Any, admin: Any, token: Any) -> None:
    person = f.person(client, admin)
    officer = token("officer", region_kato=f.ASTANA_KATO)
    assert (
        client.post(
            "/api/v1/checks", json={"iin": person["iin"], "location": f.ASTANA}, headers=officer
        ).status_code
        == 200
    )
    resp = client.post(
        "/api/v1/checks", json={"iin": person["iin"], "location": f.ALMATY}, headers=officer
    )
    assert resp.status_code == 403


def test_check_abroad_is_422(client: Any, token: Any) -> None:
    resp = client.post(
        "/api/v1/checks",
        json={"iin": f.valid_iin(), "location": f.BISHKEK},
        headers=token("officer"),
    )
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "location"


def test_a_document_number_held_twice_is_never_guessed(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    """Two passports of two countries with the same number: the check asks, never picks."""
    uzbek = f.person(client, admin, document={"type": "passport", "number": "AA1234567"})
    tajik = f.person(
        client, admin, citizenship="TJK", document={"type": "passport", "number": "AA1234567"}
    )
    for person in (uzbek, tajik):
        f.registration(client, admin, person["id"])
    officer = token("officer")
    resp = client.post(
        "/api/v1/checks",
        json={"document_number": "AA1234567", "location": f.ASTANA},
        headers=officer,
    )
    assert resp.status_code == 409 and resp.get_json()["code"] == "ambiguous_document"
    assert "IIN" in resp.get_json()["detail"]
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM officer_checks")) == 0
    chosen = _check(client, officer, document_number="AA1234567", document_country="TJK")
    assert chosen["person"]["id"] == tajik["id"]
    assert _check(client, officer, iin=uzbek["iin"])["person"]["id"] == uzbek["id"]
