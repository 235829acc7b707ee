from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from backend.app import create_app
from backend.identifiers import iin_birth_date, iin_problem, iin_sex
from tests import factories as f

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

CITIZEN = {
    "surname": "Абенов",
    "given_name": "Ержан",
    "birth_date": "1990-05-17",
    "sex": "M",
    "citizenship": "KAZ",
    "category": "citizen",
}


def test_citizen_with_valid_iin(client: Any, admin: Any) -> None:
    iin = f.valid_iin(date(1990, 5, 17), "M")
    body = f.person(client, admin, **CITIZEN, iin=iin)
    assert body["iin"] == iin and body["iin_generated"] is False


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"iin": "900517300001"}, "check digit"),
        ({"iin": "12345"}, "12 digits"),
        ({"birth_date": "1990-05-18"}, "birth date"),
        ({"sex": "F"}, "sex"),
    ],
)
def test_wrong_iin_is_422_naming_iin(client: Any, admin: Any, change: dict, why: str) -> None:
    body = {**CITIZEN, "iin": f.valid_iin(date(1990, 5, 17), "M"), **change}
    resp = client.post("/api/v1/persons", json=body, headers=admin)
    assert resp.status_code == 422
    problem = resp.get_json()
    assert problem["errors"][0]["field"] == "iin"
    assert why in problem["errors"][0]["message"]


def test_duplicate_iin_is_409(client: Any, admin: Any) -> None:
    iin = f.valid_iin(date(1990, 5, 17), "M")
    f.person(client, admin, **CITIZEN, iin=iin)
    resp = client.post("/api/v1/persons", json={**CITIZEN, "iin": iin}, headers=admin)
    assert resp.status_code == 409


def test_citizen_needs_an_iin(client: Any, admin: Any) -> None:
    resp = client.post("/api/v1/persons", json=CITIZEN, headers=admin)
    assert resp.status_code == 422
    assert resp.get_json()["errors"][0]["field"] == "iin"


def test_foreigner_gets_a_generated_iin(client: Any, admin: Any) -> None:
    body = f.person(client, admin, birth_date="1988-02-29", sex="F")
    assert body["iin_generated"] is True
    assert iin_problem(body["iin"]) is None
    assert iin_birth_date(body["iin"]) == date(1988, 2, 29)
    assert iin_sex(body["iin"]) == "F"


def test_concurrent_generation_never_repeats(app: Any, admin: Any) -> None:
    def create(i: int) -> str:
        client = app.test_client()
        resp = client.post(
            "/api/v1/persons",
            json={
                "surname": f"Параллельный{i}",
                "given_name": "Тест",
                "birth_date": "1995-07-01",
                "sex": "M",
                "citizenship": "TJK",
                "category": "labour_immigrant",
            },
            headers=admin,
        )
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["iin"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        iins = list(pool.map(create, range(40)))
    assert len(set(iins)) == 40
    assert all(iin_problem(i) is None for i in iins)


def test_person_card_has_current_registration_and_permits(client: Any, admin: Any) -> None:
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    f.permit(client, admin, person["id"])
    card = client.get(f"/api/v1/persons/{person['id']}", headers=admin).get_json()
    assert card["registrations"][0]["region_kato"] == f.ASTANA_KATO
    assert card["permits"][0]["status"] == "active"


def test_find_by_iin(client: Any, admin: Any) -> None:
    person = f.person(client, admin)
    f.person(client, admin)
    page = client.get(f"/api/v1/persons?iin={person['iin']}", headers=admin).get_json()
    assert [p["id"] for p in page["items"]] == [person["id"]]


def test_paging_with_cursor(client: Any, admin: Any) -> None:
    ids = [f.person(client, admin)["id"] for _ in range(5)]
    seen: list[int] = []
    url = "/api/v1/persons?limit=2"
    while url:
        page = client.get(url, headers=admin).get_json()
        seen += [p["id"] for p in page["items"]]
        url = page["next_cursor"] and f"/api/v1/persons?limit=2&cursor={page['next_cursor']}"
    assert seen == ids


def test_unknown_person_is_404(client: Any, admin: Any) -> None:
    assert client.get("/api/v1/persons/999999", headers=admin).status_code == 404


def test_paging_through_the_register_is_capped_per_purpose_per_day(
    migrated: Any, token: Any
) -> None:
    """An analyst cannot sweep the register under one purpose: 429 past the cap (here 3
    persons a day), with Retry-After; another case (purpose) is counted apart."""
    capped = create_app(replace(migrated, person_listing_cap="3/day"))
    try:
        client = capped.test_client()
        admin = token("admin")
        for _ in range(5):
            f.person(client, admin)
        analyst = {**token("analyst"), "X-Purpose": "case P-1"}
        first = client.get("/api/v1/persons?limit=2", headers=analyst)
        assert first.status_code == 200 and len(first.get_json()["items"]) == 2
        cursor = first.get_json()["next_cursor"]
        second = client.get(f"/api/v1/persons?limit=2&cursor={cursor}", headers=analyst)
        assert second.status_code == 429 and second.get_json()["code"] == "rate_limited"
        assert int(second.headers["Retry-After"]) > 0
        other = client.get("/api/v1/persons?limit=2", headers={**analyst, "X-Purpose": "case P-2"})
        assert other.status_code == 200
    finally:
        capped.extensions["qonys.db"].dispose()
