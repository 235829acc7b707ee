"""Who is who (issue 22): numbers as typed, names across scripts, MRZ, duplicates, merges."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pyotp
import pytest
from mrz.generator.td3 import TD3CodeGenerator
from sqlalchemy import text

from backend.identifiers import GENERATED_SERIALS, document_key, is_generated_iin
from backend.services import imports
from backend.services.access import accounts
from backend.services.identity import matching
from tests import factories as f
from tests import helpers as h

PASSWORD = "correct horse battery"
MRZ_TD3 = (
    "P<KAZZHANUZAKOV<<AIDOS<<<<<<<<<<<<<<<<<<<<<<\nN123456785KAZ9001158M3001019900115300123<<56"
)
MRZ_TD1 = (
    "I<KAZ1234567897900115300123<<<\n9001158M3001019KAZ<<<<<<<<<<<3\nZHANUZAKOV<<AIDOS<<<<<<<<<<<<<"
)
# One person, as the documents of the region write them.
SPELLINGS = {
    "kazakh_cyrillic": {"surname": "Жанұзақов", "given_name": "Айдос"},
    "russian_cyrillic": {"surname": "Жанузаков", "given_name": "Айдос"},
    "icao_9303": {"surname": "ZHANUZAKOV", "given_name": "AIDOS"},
    "kazakh_latin_2021": {"surname": "Januzaqov", "given_name": "Aidos"},
    "bgn_pcgn": {"surname": "Zhanuzaqov", "given_name": "Aydos"},
    "uzbek": {"surname": "Januzakov", "given_name": "Aydos"},
    "kyrgyz": {"surname": "Dzhanuzakov", "given_name": "Aidos"},
    "mongolian": {"surname": "Janusakov", "given_name": "Aidos"},
    "pinyin": {"surname": "Zhanuzakefu", "given_name": "Aiduosi"},
}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "the form has no CSRF token"
    return found.group(1)


def _check(client: Any, officer: Any, **body: Any) -> Any:
    body.setdefault("location", f.ASTANA)
    return client.post("/api/v1/checks", json=body, headers=officer)


def _kazakh(client: Any, admin: Any, **over: Any) -> dict[str, Any]:
    body = {
        "surname_cyrillic": "Жанұзақов",
        "given_name_cyrillic": "Айдос",
        "patronymic_cyrillic": "Серікұлы",
        "birth_date": "1990-01-15",
        "sex": "M",
        "citizenship": "CHN",
        "category": "kandas",
        **over,
    }
    return f.created(client.post("/api/v1/persons", json=body, headers=admin))


def test_document_numbers_as_typed(client: Any, admin: Any, token: Any) -> None:
    person = f.person(client, admin, document={"type": "passport", "number": "AB1234567"})
    officer = token("officer")
    for typed in ("ab1234567", "AB 1234567", "ab-123 4567 ", "АВ1234567", "ав 1234567"):
        resp = _check(client, officer, document_number=typed)
        assert resp.status_code == 200, typed
        assert resp.get_json()["person"]["id"] == person["id"], typed
    missing = _check(client, officer, document_number="fa 000-0001").get_json()
    assert missing["verdict"] == "not_found" and missing["searched"] == "FA0000001"


def test_look_alike_numbers_are_one_number_and_never_guessed(
    client: Any, admin: Any, token: Any
) -> None:
    """F13 of issue 28: numbers typed differently are refused as ambiguous, not picked."""
    f.person(client, admin, document={"type": "passport", "number": "dup7000002"})
    f.person(client, admin, document={"type": "passport", "number": "DUP7000002 "})
    f.person(client, admin, citizenship="TJK", document={"type": "passport", "number": "АВ70"})
    f.person(client, admin, citizenship="TJK", document={"type": "passport", "number": "AB70"})
    officer = token("officer")
    for typed in ("DUP7000002", "dup 7000002", "АВ70"):
        resp = _check(client, officer, document_number=typed)
        assert resp.status_code == 409, typed
        assert resp.get_json()["code"] == "ambiguous_document"


def test_an_iin_with_a_wrong_check_digit_is_said_to_be_mistyped(
    client: Any, admin: Any, token: Any
) -> None:
    good = f.valid_iin()
    wrong = good[:11] + str((int(good[11]) + 1) % 10)
    resp = _check(client, token("officer"), iin=wrong)
    assert resp.status_code == 422
    assert resp.get_json()["errors"][0] == {
        "field": "iin",
        "message": "the IIN check digit is wrong",
    }
    kazakh = _check(client, token("officer"), document_number="12345", document_country="KAZ")
    assert kazakh.status_code == 422
    assert kazakh.get_json()["errors"][0]["message"] == (
        "the number is not valid for this document type"
    )


def test_the_officer_page_takes_numbers_as_typed(client: Any, admin: Any, db: Any) -> None:
    person = f.person(client, admin, document={"type": "passport", "number": "FA1234567"})
    f.registration(client, admin, person["id"])
    with db.transaction() as session:
        accounts.create_user(session, "kamila", "officer", PASSWORD, region_kato=f.ASTANA_KATO)
    login = client.get("/login").get_data(as_text=True)
    client.post(
        "/login", data={"csrf_token": _csrf(login), "username": "kamila", "password": PASSWORD}
    )

    def check(typed: str) -> str:
        page = client.get("/officer", headers={"Accept-Language": "ru"}).get_data(as_text=True)
        form = {"csrf_token": _csrf(page), "form": "check", "who": typed, **f.ASTANA}
        return client.post("/officer", data=form, headers={"Accept-Language": "ru"}).get_data(
            as_text=True
        )

    for typed in ("fa1234567", "FA 1234567", "fa-123-4567"):
        assert "Каримов" in check(typed), typed
    assert "Не найдено — проверьте номер: FA7654321" in check("fa 765 4321")
    iin = person["iin"]
    wrong = iin[:11] + str((int(iin[11]) + 1) % 10)
    assert "Неверная контрольная цифра ИИН" in check(wrong[:6] + " " + wrong[6:])


def _analyst_signed_in(client: Any, db: Any, name: str = "jan") -> None:
    """An analyst signed in on the pages (password, then a TOTP enrolled on the spot)."""
    with db.transaction() as session:
        accounts.create_user(session, name, "analyst", PASSWORD)
    login = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"csrf_token": _csrf(login), "username": name, "password": PASSWORD})
    page = client.get("/login/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    code = pyotp.TOTP(secret).now()
    client.post("/login/totp", data={"csrf_token": _csrf(page), "code": code})


def test_the_analyst_lookup_says_a_mistyped_iin(client: Any, admin: Any, db: Any) -> None:
    person = f.person(client, admin, citizenship="KAZ", iin=f.valid_iin())
    _analyst_signed_in(client, db)
    ru = {"Accept-Language": "ru"}

    def post(form: str, **data: str) -> str:
        token = _csrf(client.get("/", headers=ru).get_data(as_text=True))
        sent = {"csrf_token": token, "form": form, **data}
        resp = client.post("/", data=sent, headers=ru, follow_redirects=True)
        return resp.get_data(as_text=True)

    post("purpose", purpose="case-22/lookup")
    iin = person["iin"]
    assert "Каримов" in post("lookup", key=f"{iin[:6]} {iin[6:]}")
    assert "Каримов" in post("lookup", key=f"{iin[:6]}-{iin[6:]}")
    wrong = iin[:11] + str((int(iin[11]) + 1) % 10)
    assert "Неверная контрольная цифра ИИН" in post("lookup", key=wrong)
    other = f.valid_iin(date(1971, 2, 3))
    assert f"Не найдено — проверьте номер: {other}" in post("lookup", key=other)


def test_document_key_folds_what_people_type() -> None:
    assert document_key(" fа-12 34.567 ") == "FA1234567"  # a Cyrillic а inside
    assert document_key("ОРЕХ") == "OPEX"
    assert document_key("") is None


def test_mrz_read_with_every_check_digit(client: Any, admin: Any) -> None:
    for zone, kind in ((MRZ_TD3, "TD3"), (MRZ_TD1, "TD1")):
        resp = client.post("/api/v1/documents/mrz", json={"mrz": zone}, headers=admin)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["format"] == kind and body["surname_latin"] == "Zhanuzakov"
        assert body["birth_date"] == "1990-01-15" and body["iin"] == "900115300123"
    wrong = MRZ_TD3.replace("N123456785", "N123456784")
    resp = client.post("/api/v1/documents/mrz", json={"mrz": wrong}, headers=admin)
    assert resp.status_code == 422
    messages = [e["message"] for e in resp.get_json()["errors"]]
    assert messages[0] == "document number check digit is wrong (line 2, position 10)"
    assert all(e["field"] == "mrz" for e in resp.get_json()["errors"])
    td1_wrong = MRZ_TD1.replace("9001158M", "9001157M")
    resp = client.post("/api/v1/documents/mrz", json={"mrz": td1_wrong}, headers=admin)
    assert resp.status_code == 422
    assert "birth date check digit is wrong (line 2, position 7)" in resp.get_data(as_text=True)
    garbage = client.post("/api/v1/documents/mrz", json={"mrz": "x" * 88}, headers=admin)
    assert garbage.status_code == 422


def test_a_person_from_an_mrz_has_names_in_both_scripts(client: Any, admin: Any) -> None:
    zone = str(
        TD3CodeGenerator(
            "P", "CHN", "Zhanuzakov", "Aidos", "E12345678", "CHN", "900115", "M", "300101", ""
        )
    )
    body = {
        "mrz": zone,
        "surname_cyrillic": "Жанұзақов",
        "given_name_cyrillic": "Айдос",
        "category": "kandas",
    }
    person = f.created(client.post("/api/v1/persons", json=body, headers=admin))
    assert person["surname"] == "Жанұзақов" and person["surname_latin"] == "Zhanuzakov"
    assert person["given_name_latin"] == "Aidos" and person["birth_date"] == "1990-01-15"
    assert person["document"] == {"type": "passport", "number": "E12345678"}
    assert person["iin_generated"] is True and is_generated_iin(person["iin"])
    assert int(person["iin"][7:11]) in GENERATED_SERIALS
    digit = zone[54]
    bad = {**body, "mrz": zone[:54] + str((int(digit) + 1) % 10) + zone[55:]}
    resp = client.post("/api/v1/persons", json=bad, headers=admin)
    assert resp.status_code == 422 and "line 2, position 10" in resp.get_data(as_text=True)


@pytest.mark.parametrize("family", sorted(SPELLINGS))
def test_each_spelling_finds_the_person(
    client: Any, admin: Any, token: Any, family: str, db: Any
) -> None:
    person = _kazakh(client, admin)
    _kazakh(client, admin, given_name_cyrillic="Айбек", patronymic_cyrillic=None)  # a twin
    analyst = {**token("analyst"), "X-Purpose": "case-22/1"}
    body = {**SPELLINGS[family], "birth_date": "1990-01-15", "sex": "M"}
    resp = client.post("/api/v1/persons/matches", json=body, headers=analyst)
    assert resp.status_code == 200, resp.get_json()
    items = resp.get_json()["items"]
    assert items[0]["person_id"] == person["id"], items
    assert items[0]["score"] >= 0.85 and "birth_date_exact" in items[0]["reasons"]
    # Kazakh Cyrillic against a Latin spelling: never said to be "the same name".
    across = family not in ("kazakh_cyrillic", "russian_cyrillic")
    assert ("surname_agrees_across_scripts" in items[0]["reasons"]) is across, items[0]
    assert all(i["score"] < items[0]["score"] for i in items[1:])
    with db.engine.connect() as conn:
        audited = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'person.match' AND purpose = :p"),
            {"p": "case-22/1"},
        ).scalar()
    assert audited >= 1


def test_names_in_the_other_order_and_a_pinyin_r_are_found(
    client: Any, admin: Any, token: Any
) -> None:
    """The birth date block reads surnames by their initial: the given name's when a
    passport writes the family name second, and l for р as Chinese pinyin does."""
    person = _kazakh(client, admin, surname_cyrillic="Рахымжанов")
    analyst = {**token("analyst"), "X-Purpose": "case-22/order"}
    for names in (
        {"surname": "AIDOS", "given_name": "RAKHYMZHANOV"},
        {"surname": "Lakhymzhanofu", "given_name": "Aiduosi"},
    ):
        body = {**names, "birth_date": "1990-01-15", "sex": "M"}
        items = client.post("/api/v1/persons/matches", json=body, headers=analyst).get_json()
        assert items["items"][0]["person_id"] == person["id"], (names, items)


def test_matches_need_a_purpose_and_a_role(client: Any, token: Any) -> None:
    body = {"surname": "Ivanov", "birth_date": "1990-01-15"}
    assert (
        client.post("/api/v1/persons/matches", json=body, headers=token("analyst")).status_code
        == 403
    )
    assert (
        client.post("/api/v1/persons/matches", json=body, headers=token("officer")).status_code
        == 403
    )
    bad = client.post(
        "/api/v1/persons/matches",
        json={"surname": "Ivanov"},
        headers={**token("admin"), "X-Purpose": "case-1"},
    )
    assert bad.status_code == 422 and "birth_date" in bad.get_data(as_text=True)


def test_birth_date_swapped_or_within_a_window() -> None:
    base = {"surname": "Жанұзақов", "given_name": "Айдос", "sex": "M", "citizenship": "CHN"}
    probe = matching.probe_of({**base, "birth_date": date(1990, 3, 5)})
    swapped = matching.probe_of({**base, "birth_date": date(1990, 5, 3)})
    near = matching.probe_of({**base, "birth_date": date(1990, 3, 9)})
    far = matching.probe_of({**base, "birth_date": date(1993, 3, 5)})
    assert "birth_date_day_month_swapped" in matching.score(probe, swapped)[1]
    assert "birth_date_within_window" in matching.score(probe, near)[1]
    assert matching.score(probe, far)[0] < 0.6


def test_a_likely_duplicate_is_created_and_reviewed(client: Any, admin: Any, db: Any) -> None:
    first = _kazakh(client, admin)
    again = f.created(
        client.post(
            "/api/v1/persons",
            json={
                "surname": "ZHANUZAKOV",
                "given_name": "AIDOS",
                "birth_date": "1990-01-15",
                "sex": "M",
                "citizenship": "CHN",
                "category": "kandas",
            },
            headers=admin,
        )
    )
    assert [c["person_id"] for c in again["duplicate_candidates"]] == [first["id"]]
    queue = client.get("/api/v1/duplicates?status=open", headers=admin).get_json()["items"]
    assert [(r["person_id"], r["candidate_id"]) for r in queue] == [(first["id"], again["id"])]


def test_an_import_reports_likely_duplicates_per_row(
    client: Any, admin: Any, settings: Any, db: Any
) -> None:
    first = _kazakh(client, admin)
    csv_text = (
        "surname,given_name,birth_date,sex,citizenship,category\n"
        "Januzaqov,Aidos,1990-01-15,M,CHN,kandas\n"
        "Other,Person,1970-02-02,F,UZB,labour_immigrant\n"
    )
    with db.transaction() as session:
        upload = imports.store_upload(session, "persons", csv_text.encode(), 1)
    with db.transaction() as session:
        report = imports.run_import(session, upload, settings)
    assert report["accepted"] == 2, report
    assert [(d["row"], d["candidates"][0]["person_id"]) for d in report["likely_duplicates"]] == [
        (2, first["id"])
    ]
    assert h.count(db, "duplicate_reviews") == 1


def test_different_is_never_proposed_again(client: Any, admin: Any, db: Any) -> None:
    first = _kazakh(client, admin)
    second = _kazakh(client, admin, given_name_cyrillic="Айдос", surname_latin="Zhanuzakov")
    review = client.get("/api/v1/duplicates", headers=admin).get_json()["items"][0]
    resp = client.post(
        f"/api/v1/duplicates/{review['id']}/decision",
        json={"decision": "different", "reason": "two brothers, checked at the akimat"},
        headers=admin,
    )
    assert resp.status_code == 200 and resp.get_json()["merge"] is None
    assert client.get("/api/v1/duplicates?status=open", headers=admin).get_json()["items"] == []
    with db.transaction() as session:
        row = session.execute(text("SELECT * FROM persons WHERE id = :i"), {"i": second["id"]})
        data = dict(row.mappings().one())
        data["document"] = None
        again = matching.candidates(session, data, exclude=second["id"])
    assert first["id"] not in [c.person_id for c in again]
    decided = client.get("/api/v1/duplicates?status=different", headers=admin).get_json()
    assert [r["id"] for r in decided["items"]] == [review["id"]]


# Every kind of row a person holds, as (table, count) after the merge.
MOVED_KINDS = (
    "registrations",
    "permits",
    "permit_extensions",
    "officer_checks",
    "alerts",
    "settlement_applications",
    "settlement_obligations",
    "support_payments",
    "trace_points",
)


def _rows(db: Any, person_id: int) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            table: conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE person_id = :p"), {"p": person_id}
            ).scalar()
            for table in MOVED_KINDS
        }


@pytest.mark.citus
def test_same_merges_every_row_into_the_real_iin_and_undo_puts_them_back(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    year = date.today().year
    kato = h.settlement_kato(db, "Pavlodar")
    quota = {"kandas": 10, "resettlers": 5}
    assert (
        client.put(f"/api/v1/quotas/{year}/550000000", json=quota, headers=admin).status_code == 200
    )
    client.put(
        f"/api/v1/settlement-lists/{year}/550000000", json={"settlements": [kato]}, headers=admin
    )
    # The older record: a kandas from China with the IIN the register generated.
    older = _kazakh(client, admin, category="labour_immigrant")
    f.registration(client, admin, older["id"])
    permit = f.permit(client, admin, older["id"])
    extended = client.post(
        f"/api/v1/permits/{permit['id']}/extensions",
        json={"valid_to": (date.today().replace(year=year + 1)).isoformat()},
        headers=admin,
    )
    assert extended.status_code in (200, 201), extended.get_json()
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE persons SET category = 'kandas' WHERE id = :p"), {"p": older["id"]}
        )
        conn.execute(
            text(
                "INSERT INTO alerts (person_id, kind, region_kato, details)"
                " VALUES (:p, 'silent_device', '550000000', '{}')"
            ),
            {"p": older["id"]},
        )
    applied = client.post(
        "/api/v1/kandas/applications",
        json={"person_id": older["id"], "family_size": 2, "settlement_kato": kato},
        headers=admin,
    )
    assert applied.status_code == 201, applied.get_json()
    assert _check(client, token("officer"), iin=older["iin"]).status_code == 200
    phone = token("device", person_id=older["id"])
    points = [
        {"t": f"{date.today().isoformat()}T0{i}:00:00Z", "lat": 52.28, "lon": 76.96}
        for i in range(3)
    ]
    assert client.post("/api/v1/traces", json={"points": points}, headers=phone).status_code == 202
    before = _rows(db, older["id"])
    assert all(before.values()), before

    # The same person later receives a real IIN: a new record, found as a likely duplicate.
    real = f.created(
        client.post(
            "/api/v1/persons",
            json={
                "iin": f.valid_iin(date(1990, 1, 15), "M"),
                "surname": "Жанұзақов",
                "given_name": "Айдос",
                "surname_latin": "Zhanuzakov",
                "birth_date": "1990-01-15",
                "sex": "M",
                "citizenship": "KAZ",
                "category": "kandas",
            },
            headers=admin,
        )
    )
    assert [c["person_id"] for c in real["duplicate_candidates"]] == [older["id"]]
    review = client.get("/api/v1/duplicates?status=open", headers=admin).get_json()["items"][0]
    # The audit log is never emptied between tests, and person ids start again at 1.
    (audit_before,) = h.scalars(db, "SELECT coalesce(max(id), 0) FROM audit_log")
    decided = client.post(
        f"/api/v1/duplicates/{review['id']}/decision",
        json={"decision": "same", "reason": "one man: passport and ID card seen"},
        headers=admin,
    )
    assert decided.status_code == 200, decided.get_json()
    merge = decided.get_json()["merge"]
    assert merge["survivor_id"] == real["id"] and merge["merged_id"] == older["id"]
    assert _rows(db, real["id"]) == before
    assert not any(_rows(db, older["id"]).values())

    # The merged id keeps answering, with the survivor.
    read = client.get(f"/api/v1/persons/{older['id']}", headers=admin).get_json()
    assert read["id"] == real["id"] and read["merged_into"] == real["id"]
    assert read["requested_id"] == older["id"] and read["permits"]
    checked = _check(client, token("officer"), iin=older["iin"]).get_json()
    assert checked["person"]["id"] == real["id"]
    with db.engine.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'person.merge'"
                " AND subject_person_id IN (:a, :b) AND id > :before"
            ),
            {"a": older["id"], "b": real["id"], "before": audit_before},
        ).scalar()
    assert audited == 2

    undone = client.post(f"/api/v1/merges/{merge['id']}/undo", headers=admin)
    assert undone.status_code == 200, undone.get_json()
    # What moved goes back; the check made meanwhile stays the survivor's.
    assert _rows(db, older["id"]) == before
    assert _rows(db, real["id"])["officer_checks"] == 1
    assert (
        client.get(f"/api/v1/persons/{older['id']}", headers=admin).get_json()["id"] == older["id"]
    )
    again = client.post(f"/api/v1/merges/{merge['id']}/undo", headers=admin)
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/persons/matches", {"surname": "Ivanov", "birth_date": "0001-01-01"}),
        ("/api/v1/persons/matches", {"surname": "Ivanov", "birth_date": "9999-12-31"}),
        ("/api/v1/persons/matches", {"mrz": "<" * 88}),
        ("/api/v1/persons/matches", {"surname": "\u0000", "birth_date": "1990-01-01"}),
        ("/api/v1/documents/mrz", {"mrz": "P<" + "é" * 86}),
        ("/api/v1/documents/mrz", {"mrz": MRZ_TD3.replace("\n", "")}),
        ("/api/v1/persons", {"category": "kandas", "mrz": MRZ_TD1.lower()}),
        ("/api/v1/persons", {"category": "kandas"}),
    ],
)
def test_odd_identity_input_is_answered_never_a_500(
    client: Any, admin: Any, path: str, body: dict[str, Any]
) -> None:
    resp = client.post(path, json=body, headers={**admin, "X-Purpose": "case-22/odd"})
    assert resp.status_code in (200, 201, 400, 409, 422), resp.get_json()
    if resp.status_code >= 400:
        assert resp.get_json()["errors"] or resp.get_json()["detail"]


def test_the_person_card_shows_both_scripts_and_duplicates(
    client: Any, admin: Any, db: Any
) -> None:
    person = _kazakh(client, admin, surname_latin="Zhanuzakov", given_name_latin="Aidos")
    twin = _kazakh(client, admin, given_name_cyrillic="Айбек", patronymic_cyrillic=None)
    body = {"surname": "ZHANUZAKOV", "given_name": "AIDOS", "birth_date": "1990-01-15",
            "sex": "M", "citizenship": "CHN", "category": "kandas"}  # fmt: skip
    latin = f.created(client.post("/api/v1/persons", json=body, headers=admin))
    assert [c["person_id"] for c in latin["duplicate_candidates"]] == [person["id"]]
    _analyst_signed_in(client, db)
    card = f"/people/{person['id']}"
    # No personal data, nor candidates, before the case reference is stated.
    first = client.get(card, headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert "Zhanuzakov" not in first and "Возможные дубликаты" not in first
    purpose = {"csrf_token": _csrf(first), "form": "purpose", "purpose": "case-22/card"}
    client.post(card, data=purpose)

    def read(lang: str) -> str:
        resp = client.get(f"{card}?lang={lang}")
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    ru = read("ru")
    assert "Жанұзақов Айдос Серікұлы" in ru and "Zhanuzakov Aidos" in ru
    assert "Кириллицей" in ru and "Латиницей" in ru and "Возможные дубликаты" in ru
    assert "Ждут решения администратора" in ru
    assert f'href="/people/{latin["id"]}' in ru and f'data-candidate="{latin["id"]}"' in ru
    assert "Та же дата рождения" in ru and "Фамилия совпадает в разных алфавитах" not in ru
    # The twin (another given name) is a weaker candidate, listed after.
    assert ru.index(f'data-candidate="{latin["id"]}"') < ru.index(f'data-candidate="{twin["id"]}"')
    kk = read("kk")
    assert "Ықтимал қайталанулар" in kk and "Туған күні бірдей" in kk and "Кириллицамен" in kk
    en = read("en")
    assert "Possible duplicates" in en and "Same birth date" in en
    with db.engine.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT action, subject_person_id FROM audit_log WHERE purpose = 'case-22/card'"
                " AND action IN ('person.match', 'duplicates.list')"
            )
        ).all()
    assert {("person.match", latin["id"]), ("duplicates.list", latin["id"])} <= set(audited)
    # A pair an admin decided ``different`` leaves the card for good.
    review = client.get("/api/v1/duplicates?status=open", headers=admin).get_json()["items"][0]
    client.post(
        f"/api/v1/duplicates/{review['id']}/decision",
        json={"decision": "different", "reason": "two people, checked at the akimat"},
        headers=admin,
    )
    after = read("ru")
    assert f'data-candidate="{latin["id"]}"' not in after and "data-review=" not in after
    assert f'data-candidate="{twin["id"]}"' in after
    # The other's card: Latin names only, the Cyrillic said to be missing, and the man
    # decided to be someone else left out.
    other = client.get(f"/people/{latin['id']}?lang=ru")
    assert "Не записано" in other.get_data(as_text=True)
    assert f'data-candidate="{person["id"]}"' not in other.get_data(as_text=True)
