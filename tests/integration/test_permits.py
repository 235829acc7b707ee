from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.jobs.permits import expire_permits
from backend.services import policy
from tests import factories as f

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def _holder(client: Any, admin: Any, bin_: str | None, **permit: Any) -> tuple[dict, dict]:
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    return person, f.permit(client, admin, person["id"], employer_bin=bin_, **permit)


def test_permit_issued_with_number_and_status(client: Any, admin: Any) -> None:
    bin_ = f.employer(client, admin)
    _person, permit = _holder(client, admin, bin_)
    assert permit["status"] == "active"
    assert permit["number"].startswith("KZ71-")


def test_household_permit_without_employer(client: Any, admin: Any) -> None:
    _person, permit = _holder(client, admin, None)
    assert permit["employer_bin"] is None


@pytest.mark.parametrize(
    ("days", "ok"), [(20, False), (30, True), (364, True), (366, False)], ids=str
)
def test_validity_one_to_twelve_months(client: Any, admin: Any, days: int, ok: bool) -> None:
    person = f.person(client, admin)
    start = date(2026, 3, 1)
    resp = client.post(
        "/api/v1/permits",
        json={
            "person_id": person["id"],
            "region_kato": f.ASTANA_KATO,
            "valid_from": start.isoformat(),
            "valid_to": (start + timedelta(days=days)).isoformat(),
        },
        headers=admin,
    )
    assert resp.status_code == (201 if ok else 422)
    if not ok:
        assert resp.get_json()["errors"][0]["field"] == "valid_to"


def test_citizen_gets_no_permit(client: Any, admin: Any) -> None:
    person = f.person(
        client, admin, citizenship="KAZ", category="citizen", iin=f.valid_iin(date(1990, 5, 17))
    )
    resp = client.post(
        "/api/v1/permits",
        json={
            "person_id": person["id"],
            "region_kato": f.ASTANA_KATO,
            "valid_from": "2026-01-01",
            "valid_to": "2026-06-30",
        },
        headers=admin,
    )
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "person_id"


def test_extension(client: Any, admin: Any) -> None:
    _p, permit = _holder(client, admin, None)
    new_end = (date.fromisoformat(permit["valid_to"]) + timedelta(days=90)).isoformat()
    resp = client.post(
        f"/api/v1/permits/{permit['id']}/extensions", json={"valid_to": new_end}, headers=admin
    )
    assert resp.status_code == 201 and resp.get_json()["valid_to"] == new_end
    too_long = (date.fromisoformat(new_end) + timedelta(days=400)).isoformat()
    resp = client.post(
        f"/api/v1/permits/{permit['id']}/extensions", json={"valid_to": too_long}, headers=admin
    )
    assert resp.status_code == 422


def test_expiry_job(client: Any, admin: Any, db: Any) -> None:
    _p, old = _holder(client, admin, None, valid_from="2025-01-01", valid_to="2025-06-30")
    assert old["status"] == "expired"
    _p, current = _holder(client, admin, None)
    with db.transaction() as session:
        session.execute(
            text("UPDATE permits SET status = 'active', valid_to = current_date - 1 WHERE id = :i"),
            {"i": current["id"]},
        )
    assert expire_permits() == 1
    assert expire_permits() == 0
    with db.engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM permits WHERE id = :i"), {"i": current["id"]}
        ).scalar()
    assert status == "expired"


def test_employer_sees_only_its_holders(client: Any, admin: Any, token: Any) -> None:
    mine, theirs = f.employer(client, admin), f.employer(client, admin)
    person, permit = _holder(client, admin, mine)
    _holder(client, admin, theirs)
    resp = client.get(
        f"/api/v1/employers/{mine}/permits", headers=token("employer", employer_bin=mine)
    )
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert [i["id"] for i in items] == [permit["id"]]
    assert items[0]["holder"]["person_id"] == person["id"]
    other = client.get(
        f"/api/v1/employers/{theirs}/permits", headers=token("employer", employer_bin=mine)
    )
    assert other.status_code == 404


def test_termination_notice_ends_the_permit_and_the_check_sees_it(
    client: Any, admin: Any, token: Any
) -> None:
    bin_ = f.employer(client, admin)
    person, permit = _holder(client, admin, bin_)
    employer = token("employer", employer_bin=bin_)
    officer = token("officer")
    check = {"iin": person["iin"], "location": f.ASTANA}
    assert client.post("/api/v1/checks", json=check, headers=officer).get_json()["verdict"] == "ok"
    resp = client.post(
        f"/api/v1/employers/{bin_}/termination-notices",
        json={
            "permit_id": permit["id"],
            "last_working_day": (date.today() - timedelta(days=2)).isoformat(),
            "reason": "уволился",
        },
        headers=employer,
    )
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["status"] == "terminated" and body["late"] is False
    verdict = client.post("/api/v1/checks", json=check, headers=officer).get_json()
    assert verdict["verdict"] == "violation" and verdict["reasons"] == ["permit_terminated"]
    again = client.post(
        f"/api/v1/employers/{bin_}/termination-notices",
        json={
            "permit_id": permit["id"],
            "last_working_day": date.today().isoformat(),
            "reason": "x",
        },
        headers=employer,
    )
    assert again.status_code == 409


def test_late_notice_is_flagged(client: Any, admin: Any, token: Any, db: Any) -> None:
    bin_ = f.employer(client, admin)
    start = date.today() - timedelta(days=100)
    _person, permit = _holder(
        client,
        admin,
        bin_,
        valid_from=start.isoformat(),
        valid_to=(start + timedelta(days=200)).isoformat(),
    )
    with db.transaction() as session:
        days = policy.integer(session, "termination_notice_days")
    assert days == 10  # the assumption of docs/domain.md rule 10, seeded by migration 0012
    last_day = date.today() - timedelta(days=days + 1)
    resp = client.post(
        f"/api/v1/employers/{bin_}/termination-notices",
        json={
            "permit_id": permit["id"],
            "last_working_day": last_day.isoformat(),
            "reason": "ушёл",
        },
        headers=token("employer", employer_bin=bin_),
    )
    assert resp.status_code == 201 and resp.get_json()["late"] is True


def test_notice_for_another_employers_permit_is_404(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    mine, theirs = f.employer(client, admin), f.employer(client, admin)
    _person, permit = _holder(client, admin, theirs)
    resp = client.post(
        f"/api/v1/employers/{mine}/termination-notices",
        json={
            "permit_id": permit["id"],
            "last_working_day": date.today().isoformat(),
            "reason": "x",
        },
        headers=token("employer", employer_bin=mine),
    )
    assert resp.status_code == 404
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM permits")).scalar() == "active"
    # Posting under the other employer's BIN with my token is not found either.
    resp = client.post(
        f"/api/v1/employers/{theirs}/termination-notices",
        json={
            "permit_id": permit["id"],
            "last_working_day": date.today().isoformat(),
            "reason": "x",
        },
        headers=token("employer", employer_bin=mine),
    )
    assert resp.status_code == 404


def test_a_household_employer_by_iin_holds_permits_and_files_notices(
    client: Any, admin: Any, token: Any
) -> None:
    """Rule 9/10: the employer may be a private person, identified by IIN, isolated like a firm."""
    household_iin = f.valid_iin(date(1975, 3, 8), "F")
    created = client.post(
        "/api/v1/employers", json={"iin": household_iin, "name": "Ахметова А."}, headers=admin
    )
    assert created.status_code == 201 and created.get_json()["kind"] == "household"
    both = client.post(
        "/api/v1/employers",
        json={"iin": household_iin, "bin": f.valid_bin(), "name": "x"},
        headers=admin,
    )
    assert both.status_code == 422
    bad = client.post("/api/v1/employers", json={"iin": "123456789012", "name": "x"}, headers=admin)
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "iin"
    worker = f.person(client, admin)
    permit = f.permit(client, admin, worker["id"], employer_bin=household_iin)
    household = token("employer", employer_bin=household_iin)
    listed = client.get(f"/api/v1/employers/{household_iin}/permits", headers=household)
    assert [p["id"] for p in listed.get_json()["items"]] == [permit["id"]]
    notice = client.post(
        f"/api/v1/employers/{household_iin}/termination-notices",
        json={
            "permit_id": permit["id"],
            "last_working_day": date.today().isoformat(),
            "reason": "переезд семьи",
        },
        headers=household,
    )
    assert notice.status_code == 201 and notice.get_json()["status"] == "terminated"
    firm = token("employer", employer_bin=f.employer(client, admin))
    stranger = client.get(f"/api/v1/employers/{household_iin}/permits", headers=firm)
    assert stranger.status_code == 404


def test_a_household_permit_issued_without_an_employer_gets_its_household_and_a_notice(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    """Issue 24: a household permit issued without an employer could never receive a
    notice. The administrator names the household (by IIN) on it, audited; the household
    then files the notice for the permit it holds."""
    household_iin = f.valid_iin(date(1969, 11, 2), "M")
    client.post(
        "/api/v1/employers", json={"iin": household_iin, "name": "Серіков Б."}, headers=admin
    )
    worker = f.person(client, admin)
    permit = f.permit(client, admin, worker["id"], employer_bin=None)
    household = token("employer", employer_bin=household_iin)
    notice = {
        "permit_id": permit["id"],
        "last_working_day": date.today().isoformat(),
        "reason": "семья уехала",
    }
    url = f"/api/v1/employers/{household_iin}/termination-notices"
    assert client.post(url, json=notice, headers=household).status_code == 404
    named_url = f"/api/v1/permits/{permit['id']}/household-employer"
    firm = f.employer(client, admin)
    refused = client.put(named_url, json={"iin": firm}, headers=admin)
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "iin"
    assert client.put(named_url, json={"iin": household_iin}, headers=household).status_code == 403
    named = client.put(named_url, json={"iin": household_iin}, headers=admin)
    assert named.status_code == 200 and named.get_json()["employer_bin"] == household_iin
    again = client.put(named_url, json={"iin": household_iin}, headers=admin)
    assert again.status_code == 409
    filed = client.post(url, json=notice, headers=household)
    assert filed.status_code == 201 and filed.get_json()["status"] == "terminated"
    with db.engine.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'permit.employer'"
                " AND subject_person_id = :p"
            ),
            {"p": worker["id"]},
        ).scalar_one()
    assert audited == 1
