"""Quotas, lists and admissions (incl. a race), the 5-year obligation, breach and indicators."""

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from backend import clock
from backend.clock import add_months
from backend.jobs.settlement import fulfil_obligations
from backend.services import alert_rules, obligations
from tests import factories as f
from tests import helpers as h

YEAR = date.today().year
PAVLODAR_REGION = "550000000"


@pytest.fixture
def pavlodar(client: Any, admin: Any, db: Any) -> dict[str, Any]:
    kato = h.settlement_kato(db, "Pavlodar")
    assert (
        client.put(
            f"/api/v1/quotas/{YEAR}/{PAVLODAR_REGION}",
            json={"kandas": 10, "resettlers": 5},
            headers=admin,
        ).status_code
        == 200
    )
    resp = client.put(
        f"/api/v1/settlement-lists/{YEAR}/{PAVLODAR_REGION}",
        json={"settlements": [kato]},
        headers=admin,
    )
    assert resp.status_code == 200 and resp.get_json()["settlements"] == [kato]
    return {"kato": kato}


def _kandas(client: Any, admin: Any, category: str = "kandas") -> dict:
    return f.person(client, admin, citizenship="KAZ", category=category, iin=f.valid_iin())


def _apply(
    client: Any, admin: Any, person_id: int, settlement: str, family: int = 3, **extra: Any
) -> Any:
    body = {"person_id": person_id, "family_size": family, "settlement_kato": settlement, **extra}
    return client.post("/api/v1/kandas/applications", json=body, headers=admin)


def _admitted_with_subsidy(client: Any, admin: Any, pavlodar: dict) -> tuple[dict, dict]:
    """A kandas family of two admitted to Pavlodar with a 15 MRP monthly subsidy."""
    person = _kandas(client, admin)
    body = _apply(
        client,
        admin,
        person["id"],
        pavlodar["kato"],
        family=2,
        support={"housing_subsidy_mrp_per_month": 15},
    ).get_json()
    return person, body


def _forty_hours_in_almaty(client: Any, device: dict) -> None:
    """The phone reports from Almaty every 15 minutes for the last 40 hours."""
    start = datetime.now(UTC) - timedelta(hours=40)
    points = [
        {"t": (start + timedelta(minutes=15 * i)).isoformat(), "lat": 43.25, "lon": 76.93}
        for i in range(150)
    ]
    assert client.post("/api/v1/traces", json={"points": points}, headers=device).status_code == 202


def test_admission_fixes_place_starts_obligation_and_pays_support(
    client: Any, admin: Any, pavlodar: dict, token: Any
) -> None:
    bin_ = f.employer(client, admin)
    person = _kandas(client, admin)
    resp = _apply(
        client,
        admin,
        person["id"],
        pavlodar["kato"],
        family=4,
        support={
            "housing_subsidy_mrp_per_month": 20,
            "housing_cost_kzt": 20_000_000,
            "job_employer_bin": bin_,
        },
    )
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["region_kato"] == PAVLODAR_REGION and body["settlement_kato"] == pavlodar["kato"]
    assert body["status"] == "active"
    assert (
        date.fromisoformat(body["ends_on"]).year == date.fromisoformat(body["starts_on"]).year + 5
    )
    items = {i["item"]: i for i in body["support"]}
    mrp = 4325 if YEAR == 2026 else None
    assert items["relocation"]["amount_mrp"] == 280  # 70 MRP x 4 family members
    # The housing subsidy is paid month by month: only the first month on admission day.
    assert items["housing_subsidy"]["amount_mrp"] == 20
    assert items["housing_subsidy"]["details"] == {"month": 1, "of": 12}
    assert items["mobility_certificate"]["amount_kzt"] == 10_000_000  # 50 % of housing cost
    if mrp:
        assert items["relocation"]["amount_kzt"] == 280 * mrp
    assert body["if_left_today_kzt"] == pytest.approx(sum(i["amount_kzt"] for i in body["support"]))
    quota = client.get(f"/api/v1/quotas/{YEAR}/{PAVLODAR_REGION}", headers=admin).get_json()
    assert quota["fill"]["kandas"] == 4 and quota["remaining"]["kandas"] == 6
    read = client.get(
        f"/api/v1/kandas/{person['id']}/obligation",
        headers={**token("analyst"), "X-Purpose": "case 9"},
    )
    assert read.status_code == 200 and read.get_json()["family_size"] == 4


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("not_designated", "region_not_designated"),
        ("not_listed", "settlement_not_listed"),
        ("quota_exhausted", "quota_exhausted"),
    ],
)
def test_refusals_carry_the_reason(
    client: Any, admin: Any, pavlodar: dict, db: Any, setup: str, reason: str
) -> None:
    person = _kandas(client, admin)
    settlement = pavlodar["kato"]
    family = 3
    if setup == "not_designated":
        settlement = h.settlement_kato(db, "Almaty")
    elif setup == "not_listed":
        settlement = h.settlement_kato(db, "Ekibastuz")
    else:
        family = 11
    resp = _apply(client, admin, person["id"], settlement, family)
    assert resp.status_code == 409
    assert resp.get_json()["title"] == f"Refused: {reason}"
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM settlement_applications")).scalar() == 0


def test_a_citizen_is_not_a_kandas(client: Any, admin: Any, pavlodar: dict) -> None:
    person = _kandas(client, admin, category="citizen")
    resp = _apply(client, admin, person["id"], pavlodar["kato"])
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "person_id"


def test_parallel_applications_never_overfill_the_quota(
    app: Any, client: Any, admin: Any, pavlodar: dict, db: Any
) -> None:
    people = [_kandas(client, admin) for _ in range(12)]

    def apply(person: dict) -> int:
        return _apply(
            app.test_client(), admin, person["id"], pavlodar["kato"], family=2
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(apply, people))
    assert statuses.count(201) == 5 and statuses.count(409) == 7  # 10 places, families of 2
    with db.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT sum(family_size) FROM settlement_applications")).scalar()
            == 10
        )


def test_quota_cannot_drop_below_admissions(client: Any, admin: Any, pavlodar: dict) -> None:
    person = _kandas(client, admin)
    assert _apply(client, admin, person["id"], pavlodar["kato"], family=6).status_code == 201
    resp = client.put(
        f"/api/v1/quotas/{YEAR}/{PAVLODAR_REGION}",
        json={"kandas": 5, "resettlers": 5},
        headers=admin,
    )
    assert resp.status_code == 409


def test_list_rejects_a_settlement_of_another_region(client: Any, admin: Any, db: Any) -> None:
    resp = client.put(
        f"/api/v1/settlement-lists/{YEAR}/{PAVLODAR_REGION}",
        json={"settlements": [h.settlement_kato(db, "Kostanay")]},
        headers=admin,
    )
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "settlements"


def test_registration_elsewhere_breaches_and_amount_is_due(
    client: Any, admin: Any, pavlodar: dict, token: Any
) -> None:
    person, body = _admitted_with_subsidy(client, admin, pavlodar)
    total = body["support_total_kzt"]
    analyst = {**token("analyst"), "X-Purpose": "case 10"}
    # A temporary registration elsewhere is a trip, not a departure: nothing opens.
    f.registration(client, admin, person["id"], kind="temporary", location=f.ALMATY)
    obligation = client.get(f"/api/v1/kandas/{person['id']}/obligation", headers=analyst).get_json()
    assert obligation["status"] == "active" and obligation["breach"] is None
    # A permanent one is evidence: suspected, nothing due until a decision.
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    obligation = client.get(f"/api/v1/kandas/{person['id']}/obligation", headers=analyst).get_json()
    assert obligation["status"] == "suspected" and obligation["amount_due_kzt"] is None
    assert obligation["breach"]["evidence"]["source"] == "registration"
    dismissed = client.post(
        f"/api/v1/kandas/{person['id']}/obligation/decision",
        json={"decision": "dismiss", "reason": "temporary stay for treatment"},
        headers=analyst,
    )
    assert (
        dismissed.get_json()["status"] == "active"
        and dismissed.get_json()["amount_due_kzt"] is None
    )
    again = client.post(
        f"/api/v1/kandas/{person['id']}/obligation/decision",
        json={"decision": "confirm", "reason": "x"},
        headers=analyst,
    )
    assert again.status_code == 409  # dismissed: nothing suspected any more
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    confirmed = client.post(
        f"/api/v1/kandas/{person['id']}/obligation/decision",
        json={"decision": "confirm", "reason": "moved to Almaty for good"},
        headers=analyst,
    ).get_json()
    assert confirmed["status"] == "breached" and confirmed["amount_due_kzt"] == total


def test_confirmed_left_settlement_alert_breaches(
    client: Any, admin: Any, pavlodar: dict, token: Any, app: Any, db: Any
) -> None:

    person = _kandas(client, admin)
    _apply(client, admin, person["id"], pavlodar["kato"], family=2)
    device = token("device", person_id=person["id"])
    _forty_hours_in_almaty(client, device)
    alert_rules.evaluate_dirty(db, app.extensions["qonys.settings"])
    analyst = token("analyst")
    items = client.get("/api/v1/alerts?kind=left_settlement_region", headers=analyst).get_json()[
        "items"
    ]
    assert len(items) == 1 and items[0]["region_kato"] == PAVLODAR_REGION
    resp = client.post(
        f"/api/v1/alerts/{items[0]['id']}/resolution",
        json={"reason": "подтверждено выездом", "confirmed": True},
        headers=analyst,
    )
    assert resp.status_code == 200
    obligation = client.get(
        f"/api/v1/kandas/{person['id']}/obligation", headers={**analyst, "X-Purpose": "c-1"}
    ).get_json()
    assert (
        obligation["status"] == "suspected"
        and obligation["breach"]["evidence"]["source"] == "alert"
    )
    confirmed = client.post(
        f"/api/v1/kandas/{person['id']}/obligation/decision",
        json={"decision": "confirm", "reason": "выехал в Алматы"},
        headers=analyst,
    )
    assert confirmed.get_json()["status"] == "breached"
    assert confirmed.get_json()["breach"]["decision"] == "confirmed"
    assert Decimal(str(confirmed.get_json()["amount_due_kzt"])) > 0


def test_retention_and_quota_indicators(
    client: Any, admin: Any, pavlodar: dict, token: Any, db: Any
) -> None:
    for _ in range(2):
        _apply(client, admin, _kandas(client, admin)["id"], pavlodar["kato"], family=2)
    with db.transaction() as session:  # pretend both families arrived four years ago
        session.execute(
            text("UPDATE settlement_obligations SET starts_on = starts_on - interval '4 years'")
        )
        session.execute(
            text(
                "UPDATE settlement_obligations SET status = 'breached', breach_detected_on = starts_on + 400"
                " WHERE id = (SELECT min(id) FROM settlement_obligations)"
            )
        )
    items = {
        i["name"]: i
        for i in client.get(f"/api/v1/indicators?year={YEAR}", headers=token("analyst")).get_json()[
            "items"
        ]
    }
    assert items["retention_3y"]["numerator"] == 1 and items["retention_3y"]["denominator"] == 2
    assert items["retention_3y"]["value"] == 0.5
    assert items["quota_fill"]["numerator"] == 4 and items["quota_fill"]["denominator"] == 15
    computed = {n for n, i in items.items() if i["computed"]}
    assert computed == {
        "internal_mobility_share",
        "monitoring_coverage",
        "retention_3y",
        "quota_fill",
    }
    # Table 1's other indicators are listed with their targets, never invented.
    external = {n: i for n, i in items.items() if not i["computed"]}
    assert set(external) == {
        "external_migration_balance",
        "qualified_arrivals_share",
        "kazakh_card_holders",
        "foreign_students_share",
        "investment_visas",
    }
    assert all(i["value"] is None and i["target"] is not None for i in external.values())
    assert all(i["definition"] and i["source"] for i in items.values())


def test_indicator_targets_follow_the_year_asked_for(client: Any, token: Any) -> None:
    """Table 1 gives a target per year: 13.2 % in 2023 … 16.2 % in 2027, not 16.2 % always."""
    analyst = token("analyst")

    def targets(year: int) -> dict[str, Any]:
        page = client.get(f"/api/v1/indicators?year={year}", headers=analyst).get_json()
        return {i["name"]: i["target"] for i in page["items"]}

    assert targets(2024)["internal_mobility_share"] == 0.137
    assert targets(2027)["internal_mobility_share"] == 0.162
    assert targets(2024)["monitoring_coverage"] == 0.25
    assert targets(2027)["monitoring_coverage"] == 0.95
    assert targets(2027)["retention_3y"] == 0.97 and targets(2024)["retention_3y"] is None


def test_monitoring_coverage_counts_phones_that_report(client: Any, admin: Any, token: Any) -> None:
    """Household workers with a permit in force; a token whose phone never reports is not coverage."""
    reporting, silent = (f.person(client, admin) for _ in range(2))
    for person in (reporting, silent):
        f.registration(client, admin, person["id"])
        f.permit(client, admin, person["id"], employer_bin=None)
    phone = token("device", person_id=reporting["id"])
    token("device", person_id=silent["id"])  # enrolled, never reports
    point = {"t": datetime.now(UTC).isoformat(), "lat": 51.16, "lon": 71.47}
    assert client.post("/api/v1/traces", json={"points": [point]}, headers=phone).status_code == 202
    items = client.get(f"/api/v1/indicators?year={YEAR}", headers=token("analyst")).get_json()
    coverage = next(i for i in items["items"] if i["name"] == "monitoring_coverage")
    assert (coverage["numerator"], coverage["denominator"], coverage["value"]) == (1, 2, 0.5)


def test_zones_ranking_through_the_api(
    client: Any, admin: Any, pavlodar: dict, db: Any, token: Any
) -> None:
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO settlement_indicators SELECT kato, 1.5, true, true, true, true, 1.0,"
                " current_date, 'test', false FROM settlements"
            )
        )
    analyst = token("analyst")
    regions = client.get(f"/api/v1/zones?level=region&year={YEAR}", headers=analyst).get_json()
    by_kato = {r["kato"]: r for r in regions["items"]}
    assert (
        by_kato[f.ALMATY_KATO]["zone"] == "D" and "not_designated" in by_kato[f.ALMATY_KATO]["caps"]
    )
    assert by_kato[PAVLODAR_REGION]["zone"] in ("A", "B")
    assert set(by_kato[PAVLODAR_REGION]["components"]) == {
        "labour_demand",
        "quota_headroom",
        "infrastructure",
        "population_trend",
    }
    settlements = client.get(
        f"/api/v1/zones?level=settlement&region_kato={PAVLODAR_REGION}&year={YEAR}", headers=analyst
    ).get_json()
    top = settlements["items"][0]
    assert top["kato"] == pavlodar["kato"] and top["zone"] == "A" and top["rank"] == 1
    assert all(i["zone"] == "D" for i in settlements["items"][1:])  # the others are not listed


def test_five_years_without_breach_are_fulfilled(
    client: Any, admin: Any, pavlodar: dict, db: Any
) -> None:

    person = _kandas(client, admin)
    _apply(client, admin, person["id"], pavlodar["kato"], family=2)
    assert fulfil_obligations() == 0
    with db.transaction() as session:
        session.execute(text("UPDATE settlement_obligations SET ends_on = current_date - 1"))
    assert fulfil_obligations() == 1
    with db.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT status FROM settlement_obligations")).scalar() == "fulfilled"
        )


def test_a_registration_imported_elsewhere_breaches_too(
    client: Any, app: Any, admin: Any, pavlodar: dict, token: Any
) -> None:
    """The import job leads to the same consequence as the API: events.registration_recorded."""
    person = _kandas(client, admin)
    assert _apply(client, admin, person["id"], pavlodar["kato"]).status_code == 201
    csv_text = (
        "person_iin,kind,address,lat,lon,settlement_kato,valid_from,valid_to\n"
        f"{person['iin']},permanent,Алматы,{f.ALMATY['lat']},{f.ALMATY['lon']},,"
        f"{clock.today().isoformat()},\n"
    )
    resp = client.post(
        "/api/v1/imports/registrations",
        data={"file": (io.BytesIO(csv_text.encode()), "registrations.csv")},
        headers=admin,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202
    h.run_jobs(app)
    analyst = {**token("analyst"), "X-Purpose": "case 11"}
    obligation = client.get(f"/api/v1/kandas/{person['id']}/obligation", headers=analyst)
    assert obligation.get_json()["status"] == "suspected"
    assert obligation.get_json()["breach"]["evidence"]["source"] == "registration"


@pytest.mark.parametrize(("months_stayed", "subsidy_months_paid"), [(1, 2), (6, 7), (13, 12)])
def test_repayment_is_what_was_paid_up_to_the_departure(
    client: Any,
    admin: Any,
    pavlodar: dict,
    token: Any,
    db: Any,
    months_stayed: int,
    subsidy_months_paid: int,
) -> None:
    """A family that leaves after N months repays relocation and the months it received."""
    person, body = _admitted_with_subsidy(client, admin, pavlodar)
    start = date.fromisoformat(body["starts_on"])
    left = add_months(start, months_stayed)
    with db.transaction() as session:
        # The daily job, run on every day of the stay (idempotent: each month once).
        obligations.pay_due_subsidies(session, left)
        obligations.pay_due_subsidies(session, left)
        obligation = obligations.current_obligation(session, person["id"])
        obligations.suspect_breach(session, person["id"], {"source": "test"}, on=left)
        obligations.pay_due_subsidies(session, add_months(left, 3))  # stopped: suspected
    analyst = {**token("analyst"), "X-Purpose": "case 12"}
    decided = client.post(
        f"/api/v1/kandas/{person['id']}/obligation/decision",
        json={"decision": "confirm", "reason": "left"},
        headers=analyst,
    ).get_json()
    mrp = Decimal("4325") if YEAR == 2026 else None
    subsidy = [i for i in decided["support"] if i["item"] == "housing_subsidy"]
    assert len(subsidy) == subsidy_months_paid
    if mrp:
        expected = (70 * 2 + 15 * subsidy_months_paid) * mrp
        assert Decimal(str(decided["amount_due_kzt"])) == expected
    assert obligation.id and decided["status"] == "breached"


def test_one_family_one_obligation(client: Any, admin: Any, pavlodar: dict, db: Any) -> None:
    person = _kandas(client, admin)
    assert _apply(client, admin, person["id"], pavlodar["kato"], family=2).status_code == 201
    with db.transaction() as session:
        session.execute(text("UPDATE settlement_obligations SET status = 'active'"))
        session.execute(
            text("INSERT INTO quotas VALUES (:y, :r, 10, 5, now()) ON CONFLICT DO NOTHING"),
            {"y": YEAR + 1, "r": PAVLODAR_REGION},
        )
        session.execute(
            text(
                "INSERT INTO settlement_lists (year, settlement_kato, region_kato)"
                " VALUES (:y, :s, :r) ON CONFLICT DO NOTHING"
            ),
            {"y": YEAR + 1, "s": pavlodar["kato"], "r": PAVLODAR_REGION},
        )
    again = _apply(client, admin, person["id"], pavlodar["kato"], family=2, year=YEAR + 1)
    assert again.status_code == 409 and again.get_json()["title"] == "Refused: obligation_active"


def test_no_settlement_alerts_without_an_obligation(
    client: Any, admin: Any, token: Any, app: Any, db: Any
) -> None:
    """A kandas who chose residence on general terms (no admission) is not watched."""
    person = _kandas(client, admin)
    f.registration(client, admin, person["id"], kind="permanent", valid_to=None)
    device = token("device", person_id=person["id"])
    _forty_hours_in_almaty(client, device)
    alert_rules.evaluate_dirty(db, app.extensions["qonys.settings"])
    items = client.get(
        "/api/v1/alerts?kind=left_settlement_region", headers=token("analyst")
    ).get_json()["items"]
    assert items == []


def test_infrastructure_first_refuses_admission_and_zones_it_d(
    client: Any, admin: Any, pavlodar: dict, token: Any, db: Any
) -> None:
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO settlement_indicators (settlement_kato, labour_demand, has_school,"
                " has_clinic, has_housing, has_transport, has_kindergarten, has_utilities,"
                " population_trend, as_of, source) VALUES (:k, 2.0, true, true, true, true,"
                " false, null, 1.0, current_date, 'test')"
            ),
            {"k": pavlodar["kato"]},
        )
    refused = _apply(client, admin, _kandas(client, admin)["id"], pavlodar["kato"])
    assert refused.status_code == 409
    assert refused.get_json()["title"] == "Refused: infrastructure_missing"
    zones = client.get(
        f"/api/v1/zones?level=settlement&region_kato={PAVLODAR_REGION}&year={YEAR}",
        headers=token("analyst"),
    ).get_json()["items"]
    mine = next(z for z in zones if z["kato"] == pavlodar["kato"])
    assert mine["zone"] == "D" and "infrastructure" in mine["caps"]
    # Settlements nobody reported on are "no data", not lacking.
    others = [z for z in zones if z["kato"] != pavlodar["kato"]]
    assert others and all("no_data" in z["caps"] for z in others)


def test_kandas_quota_full_while_resettler_places_remain(
    client: Any, admin: Any, pavlodar: dict, token: Any
) -> None:
    """Each category has its own headroom (rule 3): in admission and in the zones."""
    client.put(
        f"/api/v1/quotas/{YEAR}/{PAVLODAR_REGION}",
        json={"kandas": 2, "resettlers": 5},
        headers=admin,
    )
    assert (
        _apply(client, admin, _kandas(client, admin)["id"], pavlodar["kato"], family=2).status_code
        == 201
    )
    full = _apply(client, admin, _kandas(client, admin)["id"], pavlodar["kato"], family=1)
    assert full.get_json()["title"] == "Refused: quota_exhausted"
    resettler = _kandas(client, admin, category="resettler")
    assert _apply(client, admin, resettler["id"], pavlodar["kato"], family=2).status_code == 201
    quota = client.get(f"/api/v1/quotas/{YEAR}/{PAVLODAR_REGION}", headers=admin).get_json()
    assert quota["remaining"] == {"kandas": 0, "resettlers": 3}
    region = next(
        z
        for z in client.get(
            f"/api/v1/zones?level=region&year={YEAR}", headers=token("analyst")
        ).get_json()["items"]
        if z["kato"] == PAVLODAR_REGION
    )
    assert region["zone"] == "D" and "quota_exhausted" in region["caps"]


def test_an_intra_regional_admission_in_almaty_city(
    client: Any, admin: Any, db: Any, token: Any
) -> None:
    """Rule 2 (b): Almaty city, not designated, publishes its own list and quota."""
    almaty_city = "750000000"
    almaty = h.settlement_kato(db, "Almaty")
    assert (
        client.put(
            f"/api/v1/quotas/{YEAR}/{almaty_city}",
            json={"kandas": 0, "resettlers": 10},
            headers=admin,
        ).status_code
        == 200
    )
    assert (
        client.put(
            f"/api/v1/settlement-lists/{YEAR}/{almaty_city}",
            json={"settlements": [almaty]},
            headers=admin,
        ).status_code
        == 200
    )
    local = _kandas(client, admin, category="resettler")
    f.registration(client, admin, local["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    admitted = _apply(client, admin, local["id"], almaty, family=3)
    assert admitted.status_code == 201, admitted.get_json()
    with db.engine.connect() as conn:
        direction, origin = conn.execute(
            text("SELECT direction, origin_region_kato FROM settlement_applications")
        ).one()
    assert (direction, origin) == ("intra_regional", almaty_city)
    # From another region, Almaty city is not a destination: it is not designated.
    outsider = _kandas(client, admin, category="resettler")
    f.registration(client, admin, outsider["id"], kind="permanent", valid_to=None)  # Astana
    refused = _apply(client, admin, outsider["id"], almaty, family=1)
    assert refused.get_json()["title"] == "Refused: region_not_designated"
