from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def test_location_resolves_region_and_settlement(client: Any, admin: Any, db: Any) -> None:
    person = f.person(client, admin)
    reg = f.registration(client, admin, person["id"], location=f.PAVLODAR)
    assert reg["region_kato"] == f.PAVLODAR_KATO
    assert reg["settlement_kato"] == h.settlement_kato(db, "Pavlodar")


def test_settlement_kato_gives_its_point(client: Any, admin: Any, db: Any) -> None:
    person = f.person(client, admin)
    kato = h.settlement_kato(db, "Almaty")
    reg = f.registration(client, admin, person["id"], location=None, settlement_kato=kato)
    assert reg["region_kato"] == f.ALMATY_KATO and reg["settlement_kato"] == kato
    assert abs(reg["location"]["lat"] - 43.25) < 0.2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": f.BISHKEK}, "location"),
        ({"location": None, "settlement_kato": "999999999"}, "settlement_kato"),
        ({"location": None}, "location"),
    ],
)
def test_bad_place_is_422(client: Any, admin: Any, change: dict, field: str) -> None:
    person = f.person(client, admin)
    body = {
        "person_id": person["id"],
        "kind": "temporary",
        "location": f.ASTANA,
        "valid_from": date.today().isoformat(),
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    resp = client.post("/api/v1/registrations", json=body, headers=admin)
    assert resp.status_code == 422
    assert resp.get_json()["errors"][0]["field"] == field


def test_new_registration_closes_the_previous_of_same_kind(
    client: Any, admin: Any, db: Any
) -> None:
    person = f.person(client, admin)
    first = f.registration(client, admin, person["id"])
    permanent = f.registration(client, admin, person["id"], kind="permanent", valid_to=None)
    moved = date.today().isoformat()
    second = f.registration(client, admin, person["id"], location=f.ALMATY, valid_from=moved)
    with db.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, ended_on FROM registrations")).all())
    assert rows[first["id"]] == date.today()
    assert rows[second["id"]] is None and rows[permanent["id"]] is None
    card = client.get(f"/api/v1/persons/{person['id']}", headers=admin).get_json()
    assert {r["id"] for r in card["registrations"]} == {second["id"], permanent["id"]}


def test_registration_cannot_start_before_the_current_one(client: Any, admin: Any) -> None:
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    early = (date.today() - timedelta(days=400)).isoformat()
    resp = client.post(
        "/api/v1/registrations",
        json={
            "person_id": person["id"],
            "kind": "temporary",
            "location": f.ASTANA,
            "valid_from": early,
        },
        headers=admin,
    )
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "valid_from"


def test_near_is_nearest_first_and_capped(
    client: Any, admin: Any, token: Any, migrated: Any
) -> None:
    a, b, c = (f.person(client, admin) for _ in range(3))
    f.registration(client, admin, a["id"], location={"lat": 51.1605, "lon": 71.4714})  # ~70 m
    f.registration(client, admin, b["id"], location={"lat": 51.1605, "lon": 71.4804})  # ~700 m
    f.registration(client, admin, c["id"], location=f.ALMATY)
    officer = token("officer")
    url = "/api/v1/registrations/near?lat=51.1605&lon=71.4704"
    near = client.get(f"{url}&radius_m=1000", headers=officer).get_json()
    assert [i["person_id"] for i in near["items"]] == [a["id"], b["id"]]
    assert near["items"][0]["distance_m"] < near["items"][1]["distance_m"]
    small = client.get(f"{url}&radius_m=300", headers=officer).get_json()
    assert [i["person_id"] for i in small["items"]] == [a["id"]]
    capped = client.get(f"{url}&radius_m=10000000", headers=officer).get_json()
    assert capped["radius_m"] == migrated.near_max_radius_m
    assert c["id"] not in [i["person_id"] for i in capped["items"]]


def test_near_for_region_limited_officer(client: Any, admin: Any, token: Any) -> None:
    a = f.person(client, admin)
    f.registration(client, admin, a["id"])
    url = "/api/v1/registrations/near?lat=51.1605&lon=71.4704&radius_m=500"
    mine = client.get(url, headers=token("officer", region_kato=f.ASTANA_KATO)).get_json()
    other = client.get(url, headers=token("officer", region_kato=f.ALMATY_KATO)).get_json()
    assert len(mine["items"]) == 1 and other["items"] == []


@h.single_node_plan
def test_near_uses_the_gist_index(db: Any) -> None:
    with db.engine.begin() as conn:
        for statement in (  # one at a time: a Citus coordinator takes no multi-statement
            """
            INSERT INTO persons
                (iin, surname, given_name, birth_date, sex, citizenship, category)
            SELECT lpad(g::text, 12, '0'), 'S', 'G', '1990-01-01', 'M', 'UZB',
                   'labour_immigrant'
            FROM generate_series(1, 5000) g
            """,
            """
            INSERT INTO registrations (person_id, kind, region_kato, geom, valid_from)
            SELECT id, 'temporary', '710000000',
                   ST_SetSRID(ST_MakePoint(71.3 + random() * 0.3, 51.0 + random() * 0.3), 4326),
                   current_date
            FROM persons
            """,
            "ANALYZE registrations",
        ):
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        plan = "\n".join(
            conn.execute(
                text(
                    "EXPLAIN SELECT id FROM registrations WHERE ended_on IS NULL AND ST_DWithin("
                    "geom::geography, ST_SetSRID(ST_MakePoint(71.47, 51.16), 4326)::geography, 500)"
                )
            ).scalars()
        )
    assert "registrations_current_geog_gist" in plan


@pytest.mark.parametrize(
    ("arrived", "notified_by", "notified", "late"),
    [
        # The host has 3 working days; 16 December (Independence Day) does not count.
        ("2025-12-11", "host", "2025-12-17", False),
        ("2025-12-11", "host", "2025-12-18", True),
        # From 1 July 2026 a visa-free immigrant registers online within 30 calendar days.
        ("2026-07-10", "self", "2026-08-09", False),
        ("2026-07-10", "self", "2026-08-10", True),
    ],
)
def test_foreigner_registration_deadlines_flag_late_ones(
    client: Any, admin: Any, arrived: str, notified_by: str, notified: str, late: bool
) -> None:
    person = f.person(client, admin)  # a citizen of Uzbekistan
    reg = f.registration(
        client,
        admin,
        person["id"],
        valid_from=arrived,
        arrived_on=arrived,
        notified_by=notified_by,
        notified_on=notified,
    )
    assert reg["late_registration"] is late
    assert reg["arrived_on"] == arrived and reg["notified_by"] == notified_by


def test_registration_deadline_rules_that_are_not_in_force_are_refused(
    client: Any, admin: Any
) -> None:
    person = f.person(client, admin)
    body = {
        "person_id": person["id"],
        "kind": "temporary",
        "location": f.ASTANA,
        "valid_from": "2026-03-01",
    }
    # Online self-registration starts on 1 July 2026 (docs/domain.md rule 8).
    early = client.post(
        "/api/v1/registrations",
        json={**body, "arrived_on": "2026-03-01", "notified_by": "self"},
        headers=admin,
    )
    assert early.status_code == 422 and early.get_json()["errors"][0]["field"] == "notified_by"
    orphan = client.post(
        "/api/v1/registrations", json={**body, "notified_on": "2026-03-02"}, headers=admin
    )
    assert orphan.status_code == 422 and orphan.get_json()["errors"][0]["field"] == "notified_on"
    citizen = f.person(client, admin, citizenship="KAZ", category="citizen", iin=f.valid_iin())
    wrong = client.post(
        "/api/v1/registrations",
        json={**body, "person_id": citizen["id"], "arrived_on": "2026-03-01"},
        headers=admin,
    )
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "arrived_on"
