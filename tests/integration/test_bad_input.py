"""Bad input of every kind gets a 4xx problem+json naming the field — never a 500."""

from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from tests import factories as f

# On Citus (tests/citus_suites.py) only the tests marked below: the rest exercise
# nothing that differs between the engines.

SQL_TRICKS = ["'; DROP TABLE persons; --", '" OR 1=1 --', "Robert'); DELETE FROM audit_log;--"]


@pytest.fixture
def ctx(client: Any, admin: Any, token: Any) -> dict[str, Any]:
    bin_ = f.employer(client, admin)
    person = f.person(client, admin)
    permit = f.permit(client, admin, person["id"], employer_bin=bin_)
    return {
        "admin": admin,
        "officer": token("officer"),
        "employer": token("employer", employer_bin=bin_),
        "bin": bin_,
        "person": person,
        "permit": permit,
    }


def _registration_body(person_id: Any) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "kind": "temporary",
        "valid_from": "2026-01-01",
        "location": {"lat": 51, "lon": 71},
    }


def _person_body(**over: Any) -> dict[str, Any]:
    body = {
        "surname": "Юсупов",
        "given_name": "Бахтиёр",
        "birth_date": "1990-01-01",
        "sex": "M",
        "citizenship": "UZB",
        "category": "labour_immigrant",
        "document": {"type": "passport", "number": "FA1"},
    }
    body.update(over)
    return body


# (who, path, body, expected status, field named in errors)
CASES: list[tuple[str, str, Any, int, str | None]] = [
    ("admin", "/api/v1/persons", _person_body(birth_date="2026-02-30"), 422, "birth_date"),
    ("admin", "/api/v1/persons", _person_body(birth_date="yesterday"), 422, "birth_date"),
    ("admin", "/api/v1/persons", _person_body(birth_date="2999-01-01"), 422, "birth_date"),
    ("admin", "/api/v1/persons", _person_body(surname=42), 422, "surname"),
    ("admin", "/api/v1/persons", _person_body(surname=""), 422, "surname"),
    ("admin", "/api/v1/persons", _person_body(surname="x" * 101), 422, "surname"),
    ("admin", "/api/v1/persons", _person_body(surname="a\u0000b"), 422, "surname"),
    ("admin", "/api/v1/persons", _person_body(sex="X"), 422, "sex"),
    ("admin", "/api/v1/persons", _person_body(citizenship="uz"), 422, "citizenship"),
    ("admin", "/api/v1/persons", _person_body(citizenship="ABC"), 422, "citizenship"),
    ("admin", "/api/v1/persons", _person_body(category="tourist"), 422, "category"),
    (
        "admin",
        "/api/v1/persons",
        _person_body(document={"type": "passport"}),
        422,
        "document.number",
    ),
    ("admin", "/api/v1/persons", _person_body(iin=123456789012), 422, "iin"),
    ("admin", "/api/v1/persons", _person_body(extra="field"), 422, "extra"),
    ("admin", "/api/v1/persons", [1, 2, 3], 422, None),
    ("admin", "/api/v1/persons", "just a string", 422, None),
    (
        "admin",
        "/api/v1/registrations",
        _registration_body("one"),
        422,
        "person_id",
    ),
    (
        "admin",
        "/api/v1/registrations",
        _registration_body(2**70),
        422,
        "person_id",
    ),
    (
        "admin",
        "/api/v1/registrations",
        _registration_body(999999),
        422,
        "person_id",
    ),
    (
        "admin",
        "/api/v1/registrations",
        {
            "person_id": 1,
            "kind": "holiday",
            "valid_from": "2026-01-01",
            "location": {"lat": 51, "lon": 71},
        },
        422,
        "kind",
    ),
    (
        "admin",
        "/api/v1/registrations",
        {
            "person_id": 1,
            "kind": "temporary",
            "valid_from": "2026-01-01",
            "location": {"lat": 91, "lon": 71},
        },
        422,
        "location.lat",
    ),
    (
        "admin",
        "/api/v1/registrations",
        {
            "person_id": 1,
            "kind": "temporary",
            "valid_from": "2026-01-01",
            "location": {"lat": 51, "lon": -181},
        },
        422,
        "location.lon",
    ),
    (
        "admin",
        "/api/v1/registrations",
        {
            "person_id": 1,
            "kind": "temporary",
            "valid_from": "2026-01-01",
            "valid_to": "2025-01-01",
            "settlement_kato": "710000001",
        },
        422,
        "valid_to",
    ),
    (
        "admin",
        "/api/v1/registrations",
        {
            "person_id": 1,
            "kind": "temporary",
            "valid_from": "2026-01-01",
            "settlement_kato": "71'--",
        },
        422,
        "settlement_kato",
    ),
    ("admin", "/api/v1/employers", {"bin": "123", "name": "x"}, 422, "bin"),
    ("admin", "/api/v1/employers", {"bin": "123456789012", "name": "x"}, 422, "bin"),
    (
        "admin",
        "/api/v1/permits",
        {
            "person_id": 1,
            "region_kato": "990000000",
            "valid_from": "2026-01-01",
            "valid_to": "2026-06-30",
        },
        422,
        "region_kato",
    ),
    (
        "admin",
        "/api/v1/permits",
        {
            "person_id": 1,
            "region_kato": "710000000",
            "valid_from": "2026-01-01",
            "valid_to": "2025-06-30",
        },
        422,
        "valid_to",
    ),
    ("officer", "/api/v1/checks", {"iin": "1", "location": {"lat": 51, "lon": 71}}, 422, "iin"),
    ("officer", "/api/v1/checks", {"location": {"lat": 51, "lon": 71}}, 422, "iin"),
    (
        "officer",
        "/api/v1/checks",
        {"document_number": "X", "location": {"lat": "north", "lon": 71}},
        422,
        "location.lat",
    ),
    ("officer", "/api/v1/checks", {"document_number": "X"}, 422, "location"),
]


@pytest.mark.parametrize(("who", "path", "body", "status", "field"), CASES)
def test_invalid_bodies(
    client: Any, ctx: dict, who: str, path: str, body: Any, status: int, field: str | None
) -> None:
    resp = client.post(path, json=body, headers=ctx[who])
    assert resp.status_code == status, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    if field:
        assert field in [e["field"] for e in problem["errors"]], problem


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"\xff\xfe", b"[1,", b'{"surname": NaN}'])
def test_malformed_json_is_400_or_422(client: Any, ctx: dict, raw: bytes) -> None:
    resp = client.post(
        "/api/v1/persons", data=raw, headers={**ctx["admin"], "Content-Type": "application/json"}
    )
    assert resp.status_code in (400, 422)
    assert resp.mimetype == "application/problem+json"


def test_oversized_body_is_413(client: Any, ctx: dict, migrated: Any) -> None:
    big = b'{"surname": "' + b"x" * (migrated.max_body_bytes + 10) + b'"}'
    resp = client.post(
        "/api/v1/persons", data=big, headers={**ctx["admin"], "Content-Type": "application/json"}
    )
    assert resp.status_code == 413 and resp.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        "lat=abc&lon=71",
        "lat=91&lon=71",
        "lat=51",
        "lat=51&lon=71&radius_m=-5",
        "lat=51&lon=71&limit=100000",
        "lat=nan&lon=71",
        "lat=51&lon=71&radius_m=1e99",
    ],
)
def test_bad_near_queries(client: Any, ctx: dict, query: str) -> None:
    resp = client.get(f"/api/v1/registrations/near?{query}", headers=ctx["officer"])
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/persons/99999999999999999999999",
        "/api/v1/persons/-1",
        "/api/v1/persons/abc",
        "/api/v1/nowhere",
    ],
)
def test_bad_paths_are_404(client: Any, ctx: dict, path: str) -> None:
    resp = client.get(path, headers=ctx["admin"])
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_bad_cursor_is_422(client: Any, ctx: dict) -> None:
    resp = client.get("/api/v1/persons?cursor=%27%3B--", headers=ctx["admin"])
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "cursor"


@pytest.mark.citus
@pytest.mark.parametrize("trick", SQL_TRICKS)
def test_sql_metacharacters_are_stored_verbatim(
    client: Any, ctx: dict, db: Any, trick: str
) -> None:
    person = f.person(
        client,
        ctx["admin"],
        surname=trick,
        given_name=trick,
        document={"type": trick[:32], "number": trick[:32]},
    )
    reg = f.registration(client, ctx["admin"], person["id"], address=trick)
    assert reg["address"] == trick
    employer = client.post(
        "/api/v1/employers", json={"bin": f.valid_bin(), "name": trick}, headers=ctx["admin"]
    )
    assert employer.status_code == 201
    notice = client.post(
        f"/api/v1/employers/{ctx['bin']}/termination-notices",
        json={
            "permit_id": ctx["permit"]["id"],
            "last_working_day": date.today().isoformat(),
            "reason": trick,
        },
        headers=ctx["employer"],
    )
    assert notice.status_code == 201
    check = client.post(
        "/api/v1/checks",
        json={"document_number": trick[:32], "location": f.ASTANA},
        headers=ctx["officer"],
    )
    assert check.status_code == 200 and check.get_json()["person"]["id"] == person["id"]
    with db.engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT surname FROM persons WHERE id = :i"), {"i": person["id"]}
            ).scalar()
            == trick
        )
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() > 0


@pytest.mark.citus
def test_rejected_write_keeps_earlier_data(client: Any, ctx: dict, db: Any) -> None:
    before = client.get(f"/api/v1/persons/{ctx['person']['id']}", headers=ctx["admin"]).get_json()
    resp = client.post(
        "/api/v1/registrations",
        json={
            "person_id": ctx["person"]["id"],
            "kind": "temporary",
            "valid_from": "2026-01-01",
            "location": f.BISHKEK,
        },
        headers=ctx["admin"],
    )
    assert resp.status_code == 422
    after = client.get(f"/api/v1/persons/{ctx['person']['id']}", headers=ctx["admin"]).get_json()
    assert before == after


def test_problem_types_are_uris_documented_with_human_titles(
    client: Any, admin: Any, token: Any
) -> None:
    """RFC 9457: ``type`` points at the page that documents it, ``title`` is for people,
    ``code`` for programs (it was about:blank with machine codes in the title)."""
    page = client.get("/api/problems").get_data(as_text=True)
    answers = [
        client.get("/api/v1/persons/999999", headers={**admin, "X-Purpose": "case 1"}),
        client.post("/api/v1/persons", json={"surname": ""}, headers=admin),
        client.get("/api/v1/persons"),
        client.get("/api/v1/zones", headers=token("officer")),
    ]
    for resp in answers:
        body = resp.get_json()
        assert resp.mimetype == "application/problem+json"
        code = body["code"]
        assert body["type"] == f"/api/problems#{code}"
        assert f'<tr id="{code}">' in page
        assert " " in body["title"] or body["title"].istitle()  # words, not a code
        assert "_" not in body["title"]
    assert [r.get_json()["code"] for r in answers] == [
        "not_found",
        "invalid",
        "unauthorized",
        "forbidden",
    ]
