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
from backend.services import policy
from backend.services.access.tokens import Principal
from backend.services.settlement import admission, obligations
from backend.services.tracking import alert_rules
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

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
        support={"housing_subsidy_mrp_per_month": 15, "housing_subsidy_months": 12},
    ).get_json()
    return person, body


def _decide(client: Any, token: Any, person_id: int, decision: str, reason: str) -> Any:
    """A decision as the rules want it: two administrators confirm a breach, one dismisses."""
    url = f"/api/v1/kandas/{person_id}/obligation/decision"
    body = {"decision": decision, "reason": reason}
    first = client.post(url, json=body, headers=token("settlement_official"))
    if decision == "dismiss" or first.status_code != 200:
        return first
    assert first.get_json()["status"] == "suspected"
    assert first.get_json()["breach"]["confirmation_by"] is not None
    return client.post(url, json=body, headers=token("settlement_official"))


def _almaty_points() -> list[dict[str, Any]]:
    """Almaty every 15 minutes for the last 40 hours."""
    start = datetime.now(UTC) - timedelta(hours=40)
    return [
        {"t": (start + timedelta(minutes=15 * i)).isoformat(), "lat": 43.25, "lon": 76.93}
        for i in range(150)
    ]


def _forty_hours_in_almaty(client: Any, device: dict) -> None:
    """The phone sends 40 hours in Almaty in one batch (backfilled: it opens an alert)."""
    resp = client.post("/api/v1/traces", json={"points": _almaty_points()}, headers=device)
    assert resp.status_code == 202


def test_admission_fixes_place_starts_obligation_and_pays_support(
    client: Any, admin: Any, pavlodar: dict, token: Any
) -> None:
    person = _kandas(client, admin)
    resp = _apply(
        client,
        admin,
        person["id"],
        pavlodar["kato"],
        family=4,
        support={"housing_subsidy_mrp_per_month": 20, "housing_subsidy_months": 12},
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
    assert resp.get_json()["code"] == reason
    assert resp.get_json()["type"] == f"/api/problems#{reason}"
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
    dismissed = _decide(client, token, person["id"], "dismiss", "temporary stay for treatment")
    assert (
        dismissed.get_json()["status"] == "active"
        and dismissed.get_json()["amount_due_kzt"] is None
    )
    again = _decide(client, token, person["id"], "confirm", "x")
    assert again.status_code == 409  # dismissed: nothing suspected any more
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    confirmed = _decide(
        client, token, person["id"], "confirm", "moved to Almaty for good"
    ).get_json()
    assert confirmed["status"] == "breached" and confirmed["amount_due_kzt"] == total


def test_confirmed_left_settlement_alert_breaches(
    client: Any, admin: Any, pavlodar: dict, token: Any, app: Any, db: Any
) -> None:

    person = _kandas(client, admin)
    _apply(client, admin, person["id"], pavlodar["kato"], family=2)
    # Reported live: each fix received when it was made (see tests/integration/test_evidence.py
    # for the same 40 hours sent in one batch, which cannot make a breach).
    h.receive_live(app, person["id"], _almaty_points())
    alert_rules.evaluate_dirty(db, app.extensions["qonys.settings"])
    analyst = {**token("analyst"), "X-Purpose": "case S-1"}
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
    confirmed = _decide(client, token, person["id"], "confirm", "выехал в Алматы")
    assert confirmed.get_json()["status"] == "breached"
    assert confirmed.get_json()["breach"]["decision"] == "confirmed"
    assert Decimal(str(confirmed.get_json()["amount_due_kzt"])) > 0


def _indicators(client: Any, token: Any, year: int, region: str | None = None) -> dict:
    query = f"year={year}" + (f"&region_kato={region}" if region else "")
    page = client.get(f"/api/v1/indicators?{query}", headers=token("analyst")).get_json()
    return {i["name"]: i for i in page["items"]}


def test_retention_counts_persons_still_in_the_macroregion(
    client: Any, admin: Any, pavlodar: dict, token: Any, db: Any
) -> None:
    """Persons (family members) admitted 3+ years ago, in the northern and centre-east
    macroregion, who still live there — for this year and the year before."""
    families = {}
    for name, size in (("stays", 2), ("left", 3), ("moved_within", 4), ("atyrau", 1)):
        person = _kandas(client, admin)
        assert _apply(client, admin, person["id"], pavlodar["kato"], family=size).status_code == 201
        families[name] = person["id"]
    with db.transaction() as session:  # pretend every family arrived four years ago
        session.execute(
            text("UPDATE settlement_obligations SET starts_on = starts_on - interval '4 years'")
        )
        # Atyrau is a designated region outside the macroregion: not counted.
        session.execute(
            text(
                "UPDATE settlement_obligations SET region_kato = '230000000' WHERE person_id = :p"
            ),
            {"p": families["atyrau"]},
        )
    today = date.today().isoformat()
    akmola = h.settlement_kato(db, "Kokshetau")
    for name, where in (
        ("left", {"location": f.ALMATY}),
        ("moved_within", {"location": None, "settlement_kato": akmola}),
    ):
        f.registration(
            client,
            admin,
            families[name],
            kind="permanent",
            valid_from=today,
            valid_to=None,
            **where,
        )
    _decide(client, token, families["left"], "confirm", "moved to Almaty for good")
    now = _indicators(client, token, YEAR)["retention_3y"]
    # 2 + 3 + 4 persons admitted into the macroregion; 3 left it, 4 moved inside it.
    assert (now["numerator"], now["denominator"], now["value"]) == (6, 9, 0.6667)
    # At the end of last year nobody had left yet.
    before = _indicators(client, token, YEAR - 1)["retention_3y"]
    assert (before["numerator"], before["denominator"], before["value"]) == (9, 9, 1.0)


def test_internal_mobility_from_registration_history(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    """Arrivals in the north and east among everyone's interregional moves, per year; with
    a region, that region's arrivals among all of them. Kandas and resettlers count (table 1
    no. 3 is over all who moved), and each category's part is shown beside the total."""
    y2, y1 = YEAR - 2, YEAR - 1
    places = {
        "astana": {"location": f.ASTANA},
        "almaty": {"location": f.ALMATY},
        "pavlodar": {"location": None, "settlement_kato": h.settlement_kato(db, "Pavlodar")},
        "kostanay": {"location": None, "settlement_kato": h.settlement_kato(db, "Kostanay")},
        "shymkent": {"location": None, "settlement_kato": h.settlement_kato(db, "Shymkent")},
    }
    moves = [
        ("citizen", "astana", "pavlodar", date(y2, 5, 1)),  # north-east, two years ago
        ("citizen", "astana", "almaty", date(y2, 6, 1)),
        ("citizen", "almaty", "kostanay", date(y1, 3, 1)),  # north-east, last year
        ("citizen", "astana", "almaty", date(y1, 4, 1)),
        ("citizen", "astana", "shymkent", date(y1, 5, 1)),
        ("citizen", "almaty", "astana", date(y1, 7, 1)),
        ("citizen", "astana", "astana", date(y1, 8, 1)),  # same region: not a move between
        ("kandas", "astana", "pavlodar", date(y1, 9, 1)),  # counts, as a kandas
        ("resettler", "almaty", "kostanay", date(y1, 10, 1)),  # and as a resettler
    ]
    for category, origin, arrival, day in moves:
        person = f.person(client, admin, citizenship="KAZ", category=category, iin=f.valid_iin())
        for where, since in ((origin, date(y2 - 1, 1, 10)), (arrival, day)):
            f.registration(
                client,
                admin,
                person["id"],
                kind="permanent",
                valid_from=since.isoformat(),
                valid_to=None,
                **places[where],
            )
    two_years_ago = _indicators(client, token, y2)["internal_mobility_share"]
    assert (two_years_ago["numerator"], two_years_ago["denominator"]) == (1, 2)
    table_1 = {2023: 0.132, 2024: 0.137, 2025: 0.143, 2026: 0.150, 2027: 0.162}
    assert two_years_ago["value"] == 0.5 and two_years_ago["target"] == table_1.get(y2)
    last_year = _indicators(client, token, y1)["internal_mobility_share"]
    assert (last_year["numerator"], last_year["denominator"], last_year["value"]) == (3, 6, 0.5)
    assert last_year["breakdown"] == {
        "citizen": {"numerator": 1, "denominator": 4},
        "kandas": {"numerator": 1, "denominator": 1},
        "resettler": {"numerator": 1, "denominator": 1},
    }
    into_almaty = _indicators(client, token, y1, "750000000")["internal_mobility_share"]
    assert (into_almaty["numerator"], into_almaty["denominator"]) == (1, 6)
    assert into_almaty["target"] is None  # the table-1 target is national
    into_pavlodar = _indicators(client, token, y2, PAVLODAR_REGION)["internal_mobility_share"]
    assert (into_pavlodar["numerator"], into_pavlodar["denominator"]) == (1, 2)


def test_quota_fill_and_external_indicators(
    client: Any, admin: Any, pavlodar: dict, token: Any
) -> None:
    for _ in range(2):
        _apply(client, admin, _kandas(client, admin)["id"], pavlodar["kato"], family=2)
    # Last year: its own quota and list, one family of three admitted under it.
    last = YEAR - 1
    client.put(
        f"/api/v1/quotas/{last}/{PAVLODAR_REGION}",
        json={"kandas": 4, "resettlers": 2},
        headers=admin,
    )
    client.put(
        f"/api/v1/settlement-lists/{last}/{PAVLODAR_REGION}",
        json={"settlements": [pavlodar["kato"]]},
        headers=admin,
    )
    earlier = _apply(
        client, admin, _kandas(client, admin)["id"], pavlodar["kato"], family=3, year=last
    )
    assert earlier.status_code == 201, earlier.get_json()
    items = _indicators(client, token, YEAR)
    assert items["quota_fill"]["numerator"] == 4 and items["quota_fill"]["denominator"] == 15
    before = _indicators(client, token, last)["quota_fill"]
    assert (before["numerator"], before["denominator"], before["value"]) == (3, 6, 0.5)
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


def test_monitoring_coverage_of_last_year_reads_last_years_data(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    """Last year: the permits in force on 31 December (expired since), and the phones that
    reported in the 7 days before it — from what retention kept of their points."""
    last = YEAR - 1
    workers = [f.person(client, admin) for _ in range(3)]
    for worker in workers:
        f.permit(
            client,
            admin,
            worker["id"],
            employer_bin=None,
            valid_from=f"{last}-07-01",
            valid_to=f"{last}-12-31",
        )
    with db.transaction() as session:
        session.execute(text("UPDATE permits SET status = 'expired'"))
        for worker, day in ((workers[0], 28), (workers[1], 1)):  # the second: too long ago
            session.execute(
                text("INSERT INTO daily_presence VALUES (:p, :d, '710000000', 5, now(), now())"),
                {"p": worker["id"], "d": date(last, 12, day)},
            )
    items = _indicators(client, token, last)["monitoring_coverage"]
    assert (items["numerator"], items["denominator"]) == (1, 3)
    table_1 = {2023: 0.10, 2024: 0.25, 2025: 0.50, 2026: 0.75, 2027: 0.95}
    assert items["target"] == table_1.get(last)
    # This year none of them holds a permit in force: nobody to cover.
    now = _indicators(client, token, YEAR)["monitoring_coverage"]
    assert (now["numerator"], now["denominator"], now["value"]) == (0, 0, None)


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
        # Next year's MRP as its budget law would set it (the same figure keeps the sums
        # simple); without it the months of next year are not paid (see the missing-MRP test).
        policy.set_value(
            session, "mrp", 4325, date(YEAR + 1, 1, 1), "statute", "budget law (test)", "test"
        )
        # The daily job, run on every day of the stay (idempotent: each month once).
        obligations.pay_due_subsidies(session, left)
        obligations.pay_due_subsidies(session, left)
        obligation = obligations.current_obligation(session, person["id"])
        obligations.suspect_breach(session, person["id"], {"source": "test"}, left)
        obligations.pay_due_subsidies(session, add_months(left, 3))  # stopped: suspected
    decided = _decide(client, token, person["id"], "confirm", "left").get_json()
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
    assert again.status_code == 409 and again.get_json()["code"] == "obligation_active"


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
        "/api/v1/alerts?kind=left_settlement_region",
        headers={**token("analyst"), "X-Purpose": "case S-2"},
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
    assert refused.get_json()["code"] == "infrastructure_missing"
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
    assert full.get_json()["code"] == "quota_exhausted"
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


def _indicators_file(tmp_path: Any, rows: list[tuple[str, str, str]]) -> None:
    """Settlement inputs loaded as production loads them: ``qonys gis import-indicators``."""
    path = tmp_path / "indicators.csv"
    lines = [
        "kato,labour_demand,school,clinic,housing,transport,population_trend,urban,low_potential"
    ]
    lines += [f"{kato},1.0,1,1,1,1,0.5,{urban},{low}" for kato, urban, low in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = h.qonys("gis", "import-indicators", str(path))
    assert out.returncode == 0, out.stderr


def test_an_intra_regional_move_follows_seed_004(
    client: Any, admin: Any, db: Any, token: Any, tmp_path: Any
) -> None:
    """Seed 004 p. 2(7): from a village of low economic potential to a town of the same
    region, with housing and a job recorded. Rule 2 (b): a region that is not designated
    (Almaty region here) publishes its own list and quota for it."""
    almaty_region = "190000000"
    kegen, talghar = h.settlement_kato(db, "Kegen"), h.settlement_kato(db, "Talghar")
    esik = h.settlement_kato(db, "Esik")
    _indicators_file(tmp_path, [(kegen, "no", "yes"), (talghar, "yes", "no"), (esik, "no", "no")])
    for url, body in (
        (f"/api/v1/quotas/{YEAR}/{almaty_region}", {"kandas": 0, "resettlers": 10}),
        (f"/api/v1/settlement-lists/{YEAR}/{almaty_region}", {"settlements": [talghar, esik]}),
    ):
        assert client.put(url, json=body, headers=admin).status_code == 200
    village = {"location": None, "settlement_kato": kegen, "valid_to": None, "kind": "permanent"}
    local = _kandas(client, admin, category="resettler")
    f.registration(client, admin, local["id"], **village)
    # Housing and job are what makes it resettlement: without them, refused naming the field.
    bare = _apply(client, admin, local["id"], talghar, family=3)
    assert bare.status_code == 422 and bare.get_json()["errors"][0]["field"] == "housing"
    # To a village (Esik is not a town): refused with its reason.
    rural = _apply(client, admin, local["id"], esik, family=3, housing="x", job="y")
    assert rural.status_code == 409 and rural.get_json()["code"] == "not_intra_regional"
    admitted = _apply(
        client,
        admin,
        local["id"],
        talghar,
        family=3,
        housing="flat from the state housing fund, ул. Абая 5-12",
        job="permanent job at ТОО Талгар Агро",
    )
    assert admitted.status_code == 201, admitted.get_json()
    with db.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT direction, origin_region_kato, origin_settlement_kato, housing, job"
                " FROM settlement_applications"
            )
        ).one()
    assert row[:3] == ("intra_regional", almaty_region, kegen) and row.housing and row.job
    # A move within one settlement (Almaty city, as the issue found) is refused: no 70 MRP,
    # no quota place.
    almaty_city, almaty = "750000000", h.settlement_kato(db, "Almaty")
    for url, body in (
        (f"/api/v1/quotas/{YEAR}/{almaty_city}", {"kandas": 0, "resettlers": 10}),
        (f"/api/v1/settlement-lists/{YEAR}/{almaty_city}", {"settlements": [almaty]}),
    ):
        assert client.put(url, json=body, headers=admin).status_code == 200
    townsman = _kandas(client, admin, category="resettler")
    f.registration(
        client, admin, townsman["id"], kind="permanent", location=f.ALMATY, valid_to=None
    )
    same = _apply(client, admin, townsman["id"], almaty, family=3, housing="x", job="y")
    assert same.status_code == 409 and same.get_json()["code"] == "not_intra_regional"
    assert "within one settlement" in same.get_json()["detail"]
    quota = client.get(f"/api/v1/quotas/{YEAR}/{almaty_city}", headers=admin).get_json()
    assert quota["fill"]["resettlers"] == 0
    # From another region, Almaty city is not a destination: it is not designated.
    outsider = _kandas(client, admin, category="resettler")
    f.registration(client, admin, outsider["id"], kind="permanent", valid_to=None)  # Astana
    refused = _apply(client, admin, outsider["id"], almaty, family=1)
    assert refused.get_json()["code"] == "region_not_designated"


def _set_policy(client: Any, admin: Any, name: str, value: Any, since: date) -> None:
    resp = client.put(
        f"/api/v1/policy-parameters/{name}",
        json={"value": value, "effective_from": since.isoformat()},
        headers=admin,
    )
    assert resp.status_code == 200, resp.get_json()


def test_a_future_change_leaves_todays_computation_unchanged(
    client: Any, admin: Any, pavlodar: dict, db: Any, token: Any
) -> None:
    """New MRP, support amounts and designation announced for next year: today's admission
    pays today's amounts; an admission computed for next year uses next year's."""
    next_year = date(YEAR + 1, 1, 1)
    _set_policy(client, admin, "mrp", 5000, next_year)
    _set_policy(client, admin, "relocation_mrp_per_member", 100, next_year)
    _set_policy(client, admin, "obligation_years", 3, next_year)
    _set_policy(client, admin, "designated_areas", ["590000000"], next_year)  # Pavlodar out
    person = _kandas(client, admin)
    today = _apply(client, admin, person["id"], pavlodar["kato"], family=2).get_json()
    relocation = next(i for i in today["support"] if i["item"] == "relocation")
    mrp_now = {2026: 4325}.get(YEAR)
    assert relocation["amount_mrp"] == 140 and relocation["mrp_year"] <= YEAR
    if mrp_now:
        assert relocation["amount_kzt"] == 140 * mrp_now
    assert today["ends_on"] == add_months(date.fromisoformat(today["starts_on"]), 60).isoformat()
    zones_now = client.get(
        f"/api/v1/zones?level=region&region_kato={PAVLODAR_REGION}", headers=token("analyst")
    ).get_json()["items"][0]
    assert "not_designated" not in zones_now["caps"]
    zones_next = client.get(
        f"/api/v1/zones?level=region&region_kato={PAVLODAR_REGION}&year={YEAR + 1}",
        headers=token("analyst"),
    ).get_json()
    assert "not_designated" in zones_next["items"][0]["caps"]
    # The same rules computed for a day next year use the values in force then.
    later = _kandas(client, admin)
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO quotas VALUES (:y, '590000000', 10, 10, now());"
                "INSERT INTO settlement_lists (year, region_kato, settlement_kato)"
                " SELECT :y, region_kato, kato FROM settlements WHERE kato = :k"
            ),
            {"y": YEAR + 1, "k": h.settlement_kato(db, "Petropavlovsk")},
        )
        obligation = admission.admit(
            session,
            {
                "person_id": later["id"],
                "family_size": 2,
                "settlement_kato": h.settlement_kato(db, "Petropavlovsk"),
                "year": YEAR + 1,
            },
            on=next_year,
        )
        paid = obligations.state(session, obligation).support
        assert [(p.amount_mrp, p.mrp_year, p.amount_kzt) for p in paid] == [
            (200, YEAR + 1, 200 * 5000)
        ]
        assert obligation.ends_on == date(YEAR + 4, 1, 1)


def test_a_kandas_on_general_terms_has_no_obligation_and_no_support(
    client: Any, admin: Any, pavlodar: dict, db: Any, token: Any, app: Any
) -> None:
    person = _kandas(client, admin)
    chosen = client.post(f"/api/v1/kandas/{person['id']}/general-terms", json={}, headers=admin)
    assert chosen.status_code == 200 and chosen.get_json()["general_terms_on"]
    refused = _apply(client, admin, person["id"], pavlodar["kato"], family=2)
    assert refused.status_code == 409 and refused.get_json()["code"] == "general_terms"
    # No obligation: a trip away raises no settlement alert.
    device = token("device", person_id=person["id"])
    _forty_hours_in_almaty(client, device)
    alert_rules.evaluate_dirty(db, app.extensions["qonys.settings"])
    alerts = client.get(
        "/api/v1/alerts?kind=left_settlement_region",
        headers={**token("analyst"), "X-Purpose": "case S-3"},
    )
    assert alerts.get_json()["items"] == []
    # A family already admitted under the quota cannot opt out while its obligation runs.
    admitted = _kandas(client, admin)
    assert _apply(client, admin, admitted["id"], pavlodar["kato"], family=2).status_code == 201
    late = client.post(f"/api/v1/kandas/{admitted['id']}/general-terms", json={}, headers=admin)
    assert late.status_code == 409 and late.get_json()["code"] == "obligation_active"
    resettler = _kandas(client, admin, category="resettler")
    wrong = client.post(f"/api/v1/kandas/{resettler['id']}/general-terms", json={}, headers=admin)
    assert wrong.status_code == 422


def test_resettlers_owe_the_stay_only_while_the_assumption_says_so(
    client: Any, admin: Any, pavlodar: dict, token: Any
) -> None:
    # From the day after the seeded value (a test never replaces a seeded row: the
    # per-test clean-up removes only the rows tests added).
    _set_policy(client, admin, "obligation_applies_to_resettlers", False, date(2023, 1, 2))
    resettler = _kandas(client, admin, category="resettler")
    assert _apply(client, admin, resettler["id"], pavlodar["kato"], family=2).status_code == 201
    f.registration(
        client, admin, resettler["id"], kind="permanent", location=f.ALMATY, valid_to=None
    )
    analyst = {**token("analyst"), "X-Purpose": "case 20"}
    seen = client.get(f"/api/v1/kandas/{resettler['id']}/obligation", headers=analyst).get_json()
    assert seen["status"] == "active" and seen["breach"] is None
    # A kandas family is bound by seed 003 whatever the assumption says.
    kandas = _kandas(client, admin)
    assert _apply(client, admin, kandas["id"], pavlodar["kato"], family=2).status_code == 201
    f.registration(client, admin, kandas["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    seen = client.get(f"/api/v1/kandas/{kandas['id']}/obligation", headers=analyst).get_json()
    assert seen["status"] == "suspected"


def test_a_claim_takes_two_settlement_officials(
    client: Any, admin: Any, pavlodar: dict, token: Any, db: Any
) -> None:
    """Four eyes: two different officials (accounts, not the same token twice) issue the
    claim; administrators manage accounts and decide nothing."""
    person, _body = _admitted_with_subsidy(client, admin, pavlodar)
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    url = f"/api/v1/kandas/{person['id']}/obligation/decision"
    body = {"decision": "issue", "reason": "permanent registration in Almaty"}
    for role in ("analyst", "officer", "admin"):
        assert client.post(url, json=body, headers=token(role)).status_code == 403
    official = token("settlement_official")
    first = client.post(url, json=body, headers=official)
    assert first.get_json()["status"] == "suspected"
    assert first.get_json()["claim"]["status"] == "suspected"
    again = client.post(url, json=body, headers=official)
    assert again.status_code == 409 and "second settlement official" in again.get_json()["detail"]
    second = client.post(url, json=body, headers=token("settlement_official"))
    claim = second.get_json()["claim"]
    assert second.get_json()["status"] == "breached" and claim["status"] == "claim_issued"
    assert claim["first_official"] != claim["issued_by"]
    # A token owned by an account and that account's browser session are one official.
    a = Principal(token_id=1, role="settlement_official", owner="user:saule")
    b = Principal(token_id=0, role="settlement_official", name="user:saule", user_id=7)
    assert obligations.same_official(obligations.official_of(a), obligations.official_of(b))
