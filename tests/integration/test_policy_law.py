"""Issue 24: the law of the right year, sources, support combinations, the social contract
and its claim, evidence before a liability, and rule-12 eligibility (docs/policy.md)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from backend import clock
from backend.jobs import runner
from backend.jobs.base import alerts_policy_gaps, job_database
from backend.services import policy
from backend.services.settlement import eligibility, obligations, preselection
from backend.services.tracking import alert_rules
from tests import factories as f
from tests import helpers as h

YEAR = date.today().year
PAVLODAR, ATYRAU = "550000000", "230000000"
MRP_2026 = Decimal(4325)
MRP_2027 = Decimal(4500)  # an illustrative 2027 value: no 2027 budget law is in the seeds


def _open(db: Any, year: int, region: str, settlement: str) -> None:
    """A quota and a list of a (possibly past) year, as a region published them then."""
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO quotas VALUES (:y, :r, 10, 10, now()) ON CONFLICT DO NOTHING;"
                "INSERT INTO settlement_lists (year, region_kato, settlement_kato)"
                " VALUES (:y, :r, :k) ON CONFLICT DO NOTHING"
            ),
            {"y": year, "r": region, "k": settlement},
        )


def _kandas(client: Any, admin: Any, category: str = "kandas") -> dict[str, Any]:
    return f.person(client, admin, citizenship="KAZ", category=category, iin=f.valid_iin())


def _apply(client: Any, admin: Any, person_id: int, settlement: str, **extra: Any) -> Any:
    body = {"person_id": person_id, "family_size": 4, "settlement_kato": settlement, **extra}
    return client.post("/api/v1/kandas/applications", json=body, headers=admin)


def _mrp_2027(db: Any) -> None:
    with db.transaction() as session:
        policy.set_value(
            session,
            "mrp",
            int(MRP_2027),
            date(2027, 1, 1),
            "statute",
            "Закон РК «О республиканском бюджете на 2027-2029 годы» (test value)",
            "test",
        )


def test_a_2025_application_to_atyrau_is_refused_and_2026_accepted(
    client: Any, admin: Any, db: Any
) -> None:
    """Seed 002 action 41: six regions for 2023-2025; seed 003: eight from 2026."""
    atyrau = h.settlement_kato(db, "Atyrau")
    _open(db, 2025, ATYRAU, atyrau)
    _open(db, 2026, ATYRAU, atyrau)
    person = _kandas(client, admin)
    late = _apply(client, admin, person["id"], atyrau, admitted_on="2025-06-01", year=2025)
    assert late.status_code == 409 and late.get_json()["code"] == "region_not_designated"
    assert "not designated on 2025-06-01" in late.get_json()["detail"]
    # Refused: no place of the 2025 quota taken, no obligation, no support.
    quota = client.get(f"/api/v1/quotas/2025/{ATYRAU}", headers=admin).get_json()
    assert quota["fill"]["kandas"] == 0
    no_obligation = client.get(f"/api/v1/kandas/{person['id']}/obligation", headers=admin)
    assert no_obligation.status_code == 404
    with db.transaction() as session:
        six = policy.katos(session, "designated_areas", date(2025, 6, 1))
    assert ATYRAU not in six and PAVLODAR in six
    now = _apply(client, admin, person["id"], atyrau, year=2026)
    assert now.status_code == 201, now.get_json()
    assert now.get_json()["status"] == "active"
    with db.transaction() as session:
        assert len(policy.katos(session, "designated_areas", date(2025, 12, 31))) == 6
        assert len(policy.katos(session, "designated_areas", date(2026, 1, 1))) == 8


def test_an_admission_before_2026_starts_no_obligation_and_is_audited(
    client: Any, admin: Any, db: Any
) -> None:
    pavlodar = h.settlement_kato(db, "Pavlodar")
    _open(db, 2025, PAVLODAR, pavlodar)
    person = _kandas(client, admin)
    resp = _apply(client, admin, person["id"], pavlodar, admitted_on="2025-06-01", year=2025)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "unbound" and body["starts_on"] == "2025-06-01"
    assert body["contract"]["terms"]["stay_years"] is None
    relocation = next(i for i in body["support"] if i["item"] == "relocation")
    assert relocation["mrp_year"] == 2025 and relocation["amount_kzt"] == 280 * 3932
    # Leaving owes nothing: no suspected departure, no claim.
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    seen = client.get(
        f"/api/v1/kandas/{person['id']}/obligation",
        headers={**admin, "X-Purpose": "case 24"},
    ).get_json()
    assert seen["status"] == "unbound" and seen["claim"] is None
    with db.engine.connect() as conn:
        note = conn.execute(
            text(
                "SELECT purpose FROM audit_log WHERE action = 'settlement.admit'"
                " AND subject_person_id = :p ORDER BY id DESC LIMIT 1"
            ),
            {"p": person["id"]},
        ).scalar_one()
    assert note == "entered late: admitted on 2025-06-01"
    future = _apply(client, admin, person["id"], pavlodar, admitted_on="2099-01-01")
    assert future.status_code == 422 and future.get_json()["errors"][0]["field"] == "admitted_on"


def test_preselection_is_not_in_force_before_2026(client: Any, admin: Any, db: Any) -> None:
    person = f.person(client, admin, category="temporary_resident")
    data = {
        "person_id": person["id"],
        "language_score": 90,
        "questionnaire_score": 90,
        "interview_score": 90,
        "checks_passed": True,
    }
    with db.transaction() as session:
        with pytest.raises(policy.NotInForce, match="2025-06-01"):
            preselection.decide(session, data, "test", on=date(2025, 6, 1))
        assert preselection.decide(session, data, "test", on=date(2026, 6, 1)).decision == "pass"


def test_sources_are_seed_statute_or_assumption(client: Any, token: Any, db: Any) -> None:
    page = client.get("/api/v1/policy-parameters", headers=token("analyst")).get_json()
    items = {i["name"]: i for i in page["items"]}
    assert items["mobility_certificate_share"]["source"] == "seed"
    assert "seed 000" in items["mobility_certificate_share"]["reference"]
    assert items["north_east_regions"]["source"] == "assumption"
    assert items["mrp"]["source"] == "statute" and "бюджете" in items["mrp"]["reference"]
    assert items["obligation_applies_to_resettlers"]["value"] is False
    with db.transaction() as session, pytest.raises(Exception, match="cites its source"):
        policy.set_value(session, "mrp", 4500, date(2027, 1, 1), "statute", None, "test")
    shown = h.qonys("policy", "show", check=True).stdout
    for name in policy.PARAMETERS:
        assert f"\n{name} = " in "\n" + shown, name
    assert "mrp = 4325 KZT  from 2026-01-01, statute: Закон РК" in shown


def test_a_missing_mrp_refuses_and_the_daily_job_alerts(client: Any, admin: Any, db: Any) -> None:
    with db.transaction() as session, pytest.raises(policy.MissingValue) as refused:
        obligations.mrp_for(session, date(2027, 3, 1))
    assert "mrp" in str(refused.value) and "2027-03-01" in str(refused.value)
    pavlodar = h.settlement_kato(db, "Pavlodar")
    _open(db, YEAR, PAVLODAR, pavlodar)
    person = _kandas(client, admin)
    support = {"housing_subsidy_mrp_per_month": 20, "housing_subsidy_months": 12}
    assert _apply(client, admin, person["id"], pavlodar, support=support).status_code == 201
    with db.transaction() as session:
        # The daily job books this year's months, not next year's with this year's MRP.
        obligations.pay_due_subsidies(session, date(YEAR + 1, 6, 1))
        paid = session.execute(
            text(
                "SELECT count(*), max(paid_on) FROM support_payments WHERE item = 'housing_subsidy'"
            )
        ).one()
    assert paid[1].year == YEAR
    shown = h.qonys("policy", "show", check=True).stdout
    assert f"ALERT: no value of mrp in force on {YEAR + 1}-" in shown
    h.qonys(
        "policy",
        "set",
        "mrp",
        "4500",
        "--from",
        f"{YEAR + 1}-01-01",
        "--source",
        "statute",
        "--reference",
        "budget law (test)",
        check=True,
    )
    assert "ALERT" not in h.qonys("policy", "show", check=True).stdout


# The scheduled jobs that read policy values (backend/jobs/runner.py PERIODIC).
POLICY_READING_JOBS = (
    "backend.jobs.alerts.sweep",
    "backend.jobs.alerts.residence_sweep",
    "backend.jobs.permits.expire_permits",
    "backend.jobs.permits.remind_permit_expiry",
    "backend.jobs.reports.send_scheduled_reports",
    "backend.jobs.settlement.fulfil_obligations",
    "backend.jobs.settlement.pay_subsidies",
)


def test_every_daily_job_raises_an_admin_alert_for_a_missing_value(db: Any) -> None:
    """A scheduled job lacking a value for its day records a ``policy_gaps`` alert, which
    ``qonys policy show`` prints, and fails rather than reuse another year's value."""
    scheduled = {dotted for dotted, _every in runner.PERIODIC}
    for dotted in POLICY_READING_JOBS:
        module, name = dotted.rsplit(".", 1)
        assert dotted in scheduled, dotted
        assert getattr(importlib.import_module(module), name).alerts_policy_gaps, dotted

    @alerts_policy_gaps
    def yearly_figures() -> None:
        with job_database().transaction() as session:
            policy.number(session, "target_monitoring_coverage", date(2031, 6, 1))

    with pytest.raises(policy.MissingValue, match="2031-06-01"):
        yearly_figures()
    shown = h.qonys("policy", "show", check=True).stdout
    assert (
        "ALERT: no value of target_monitoring_coverage in force on 2031-06-01 "
        "(job yearly_figures" in shown
    )


def test_the_certificate_replaces_the_subsidy_which_runs_for_the_months_granted(
    client: Any, admin: Any, db: Any
) -> None:
    pavlodar = h.settlement_kato(db, "Pavlodar")
    _open(db, YEAR, PAVLODAR, pavlodar)
    bin_ = f.employer(client, admin)
    both = {
        "housing_subsidy_mrp_per_month": 20,
        "housing_subsidy_months": 12,
        "housing_cost_kzt": 20_000_000,
        "job_employer_bin": bin_,
    }
    person = _kandas(client, admin)
    refused = _apply(client, admin, person["id"], pavlodar, support=both)
    assert refused.status_code == 422 and "replaces" in refused.get_json()["detail"]
    too_long = {"housing_subsidy_mrp_per_month": 20, "housing_subsidy_months": 13}
    refused = _apply(client, admin, person["id"], pavlodar, support=too_long)
    assert refused.get_json()["errors"][0]["field"] == "support.housing_subsidy_months"
    certificate = {"housing_cost_kzt": 20_000_000, "job_employer_bin": bin_}
    body = _apply(client, admin, person["id"], pavlodar, support=certificate).get_json()
    items = {i["item"]: i for i in body["support"]}
    assert items["mobility_certificate"]["amount_kzt"] == 10_000_000
    assert "housing_subsidy" not in items
    assert body["contract"]["support_promised"]["mobility_certificate"]["share"] == 0.5
    three = _kandas(client, admin)
    granted = {"housing_subsidy_mrp_per_month": 15, "housing_subsidy_months": 3}
    assert _apply(client, admin, three["id"], pavlodar, support=granted).status_code == 201
    _mrp_2027(db)
    with db.transaction() as session:
        obligations.pay_due_subsidies(session, date(2027, 12, 31))  # a year of daily runs
        obligation = obligations.current_obligation(session, three["id"])
        subsidy = [
            p for p in obligations.state(session, obligation).support if p.item == "housing_subsidy"
        ]
    assert [p.details for p in subsidy] == [{"month": m, "of": 3} for m in (1, 2, 3)]


def _admitted_on_march_first(client: Any, admin: Any, db: Any) -> tuple[dict[str, Any], dict]:
    """Case A of the issue: a family of four admitted to Pavlodar on 2026-03-01 with a
    20 MRP subsidy for 12 months."""
    pavlodar = h.settlement_kato(db, "Pavlodar")
    _open(db, 2026, PAVLODAR, pavlodar)
    person = _kandas(client, admin)
    body = _apply(
        client,
        admin,
        person["id"],
        pavlodar,
        year=2026,
        admitted_on="2026-03-01",
        contract={"number": "SC-PVL-2026-0042", "signed_on": "2026-02-20"},
        support={"housing_subsidy_mrp_per_month": 20, "housing_subsidy_months": 12},
    )
    assert body.status_code == 201, body.get_json()
    return person, body.get_json()


def test_case_a_leaves_for_almaty_on_2027_09_15_and_owes_the_claim(
    client: Any, admin: Any, db: Any, token: Any
) -> None:
    person, body = _admitted_on_march_first(client, admin, db)
    assert body["contract"]["number"] == "SC-PVL-2026-0042"
    assert body["contract"]["signed_on"] == "2026-02-20"
    assert body["contract"]["terms"]["stay_until"] == "2031-03-01"
    assert body["contract"]["support_promised"]["housing_subsidy"] == {
        "mrp_per_month": 20,
        "months": 12,
    }
    _mrp_2027(db)
    with db.transaction() as session:
        obligations.pay_due_subsidies(session, date(2027, 9, 14))  # the daily job, every day
    f.registration(
        client,
        admin,
        person["id"],
        kind="permanent",
        location=f.ALMATY,
        valid_from="2027-09-15",
        valid_to=None,
    )
    official_1, official_2 = token("settlement_official"), token("settlement_official")
    seen = client.get(f"/api/v1/kandas/{person['id']}/obligation", headers=official_1).get_json()
    assert seen["claim"]["status"] == "suspected" and seen["claim"]["departed_on"] == "2027-09-15"
    url = f"/api/v1/kandas/{person['id']}/obligation/decision"
    printed = client.get(f"/api/v1/kandas/{person['id']}/obligation/claim", headers=official_1)
    assert printed.status_code == 409  # not a claim until issued
    body = {"decision": "issue", "reason": "permanent registration in Almaty from 2027-09-15"}
    assert client.post(url, json=body, headers=official_1).status_code == 200
    issued = client.post(url, json=body, headers=official_2).get_json()
    claim = issued["claim"]
    assert claim["status"] == "claim_issued"
    relocation = 280 * MRP_2026  # 70 MRP x 4 members, MRP of 2026
    subsidy_2026 = 10 * 20 * MRP_2026  # March-December 2026
    subsidy_2027 = 2 * 20 * MRP_2027  # January-February 2027
    assert [line["item"] for line in claim["lines"]] == ["relocation"] + ["housing_subsidy"] * 12
    # Each line as paid: the day, the MRP of its own year, the tenge.
    lines = [(li["paid_on"], li["mrp_year"], li["amount_kzt"]) for li in claim["lines"]]
    assert lines[0] == ("2026-03-01", 2026, "1211000.00")  # 280 MRP x 4 325
    assert lines[1:11] == [(f"2026-{m:02d}-01", 2026, "86500.00") for m in range(3, 13)]
    assert lines[11:] == [("2027-01-01", 2027, "90000.00"), ("2027-02-01", 2027, "90000.00")]
    assert claim["departed_on"] == "2027-09-15"
    assert Decimal(str(claim["amount_kzt"])) == relocation + subsidy_2026 + subsidy_2027
    assert Decimal(str(claim["amount_kzt"])) == Decimal("2256000")
    ru = client.get(f"/api/v1/kandas/{person['id']}/obligation/claim?lang=ru", headers=official_1)
    kk = client.get(f"/api/v1/kandas/{person['id']}/obligation/claim?lang=kk", headers=official_2)
    assert "Социальный контракт" in ru.text and "SC-PVL-2026-0042" in ru.text
    assert "Әлеуметтік келісімшарт" in kk.text and "2256000.00" in kk.text
    contested = client.post(
        url, json={"decision": "contested", "reason": "court"}, headers=official_1
    )
    assert contested.get_json()["claim"]["status"] == "contested"
    paid = client.post(url, json={"decision": "paid", "reason": "receipt 17"}, headers=official_2)
    assert paid.get_json()["claim"]["status"] == "paid"
    again = client.post(url, json={"decision": "paid", "reason": "twice"}, headers=official_2)
    assert again.status_code == 409


def test_a_claim_is_withdrawn_and_the_stay_runs_on(
    client: Any, admin: Any, db: Any, token: Any
) -> None:
    person, _body = _admitted_on_march_first(client, admin, db)
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    url = f"/api/v1/kandas/{person['id']}/obligation/decision"
    done = client.post(
        url,
        json={"decision": "withdraw", "reason": "registration in error"},
        headers=token("settlement_official"),
    ).get_json()
    assert done["status"] == "active" and done["claim"]["status"] == "withdrawn"


def test_a_departure_is_dated_by_the_first_day_of_a_confirmed_absence(
    client: Any, admin: Any, db: Any
) -> None:
    person, _body = _admitted_on_march_first(client, admin, db)
    with db.transaction() as session:
        from backend.models import Alert  # noqa: PLC0415 - only this test builds one by hand
        from backend.services import events  # noqa: PLC0415

        alert = Alert(
            person_id=person["id"],
            kind="left_settlement_region",
            region_kato=PAVLODAR,
            details={
                "outside_since": "2026-11-20T22:30:00+00:00",
                # Measured on live fixes: evidence that may cost the family money.
                "evidence": {"rests_on": "live_fixes"},
            },
        )
        session.add(alert)
        session.flush()
        events.alert_resolved(session, alert, "confirmed by the officer", True)
        obligation = obligations.current_obligation(session, person["id"])
        # 22:30 UTC is 03:30 the next day in Kazakhstan.
        assert obligation.departed_on == date(2026, 11, 21)
        assert obligation.claim_status == "suspected"


def test_the_dwell_is_a_parameter_and_a_temporary_registration_suppresses_it(
    client: Any, admin: Any, db: Any, token: Any, app: Any
) -> None:
    pavlodar = h.settlement_kato(db, "Pavlodar")
    _open(db, YEAR, PAVLODAR, pavlodar)
    settings = app.extensions["qonys.settings"]
    visiting, away = _kandas(client, admin), _kandas(client, admin)
    for person in (visiting, away):
        assert _apply(client, admin, person["id"], pavlodar).status_code == 201
        start = datetime.now(UTC) - timedelta(hours=40)
        points = [
            {"t": (start + timedelta(minutes=15 * i)).isoformat(), "lat": 43.25, "lon": 76.93}
            for i in range(150)
        ]
        device = token("device", person_id=person["id"])
        assert client.post("/api/v1/traces", json={"points": points}, headers=device).status_code
    f.registration(
        client,
        admin,
        visiting["id"],
        kind="temporary",
        location=f.ALMATY,
        valid_from=(clock.today() - timedelta(days=3)).isoformat(),
    )

    def open_kinds(person_id: int) -> list[str]:
        with db.transaction() as session:
            alert_rules.evaluate_person(session, person_id, settings)
        with db.engine.connect() as conn:
            return list(
                conn.execute(
                    text("SELECT kind FROM alerts WHERE person_id = :p AND status = 'open'"),
                    {"p": person_id},
                ).scalars()
            )

    with db.transaction() as session:
        policy.set_value(
            session, "left_region_dwell_hours", 48, date(2026, 1, 2), "assumption", "t", "t"
        )
    assert open_kinds(away["id"]) == []  # 40 hours away, 48 needed
    with db.transaction() as session:
        policy.set_value(
            session, "left_region_dwell_hours", 24, date(2026, 1, 3), "assumption", "t", "t"
        )
    assert open_kinds(away["id"]) == ["left_settlement_region"]
    assert open_kinds(visiting["id"]) == []  # a lawful temporary stay where the phone is


def test_rule_12_eligibility_and_its_interruptions(
    client: Any, admin: Any, db: Any, token: Any
) -> None:
    person, _body = _admitted_on_march_first(client, admin, db)
    url = f"/api/v1/kandas/{person['id']}/eligibility"
    analyst = {**token("analyst"), "X-Purpose": "case 12"}
    found = client.get(url, headers=analyst).get_json()
    assert found["eligible_from"] == "2031-03-01" and found["interruptions"] == []
    assert found["rule"]["parameter"] == "eligibility_residence_years"
    assert found["rule"]["source"] == "assumption" and found["years_counted"] > 0.7
    f.registration(
        client,
        admin,
        person["id"],
        kind="permanent",
        location=f.ALMATY,
        valid_from=clock.today().isoformat(),
        valid_to=None,
    )
    broken = client.get(url, headers=analyst).get_json()
    assert broken["eligible_from"] is None and broken["years_counted"] == 0
    assert broken["interruptions"][0]["reason"] == "permanent_registration_elsewhere"


def test_the_dashboard_counts_who_becomes_eligible(
    client: Any, admin: Any, db: Any, token: Any
) -> None:
    pavlodar = h.settlement_kato(db, "Pavlodar")
    _open(db, 2023, PAVLODAR, pavlodar)
    with db.transaction() as session:
        policy.set_value(
            session, "eligibility_residence_years", 3, date(2023, 1, 2), "assumption", "t", "t"
        )
    person = _kandas(client, admin)
    resp = _apply(client, admin, person["id"], pavlodar, admitted_on="2023-06-01", year=2023)
    assert resp.status_code == 201, resp.get_json()
    with db.transaction() as session:
        assert eligibility.becoming_eligible(session, 2026) == 1
        assert eligibility.becoming_eligible(session, 2027) == 0
        counts = [(y, eligibility.becoming_eligible(session, y)) for y in (YEAR, YEAR + 1)]
    # The analysts' dashboard shows this year's and next year's counts.
    page = client.get("/dashboard", headers=token("analyst")).get_data(as_text=True)
    for year, count in counts:
        assert f'<tr data-year="{year}"><td>{year}</td><td class="num">{count}</td>' in page


def test_a_resaved_list_keeps_its_first_publication(client: Any, admin: Any, db: Any) -> None:
    year = YEAR + 1
    kato = h.settlement_kato(db, "Pavlodar")
    url = f"/api/v1/settlement-lists/{year}/{PAVLODAR}"
    assert client.put(url, json={"settlements": [kato]}, headers=admin).status_code == 200
    with db.transaction() as session:
        session.execute(
            text("UPDATE settlement_lists SET published_at = :t WHERE year = :y"),
            {"t": datetime(YEAR, 12, 1, 6, tzinfo=UTC), "y": year},
        )
    other = h.settlement_kato(db, "Ekibastuz")
    again = client.put(url, json={"settlements": [kato, other]}, headers=admin).get_json()
    assert again["published_at"].startswith(f"{YEAR}-12-01") and again["published_on_time"]


def test_a_late_registration_is_a_warning_on_the_verdict(
    client: Any, admin: Any, token: Any
) -> None:
    on_time, late = f.person(client, admin), f.person(client, admin)
    today = clock.today()
    arrived = today - timedelta(days=20)
    for person, notified in ((on_time, arrived), (late, today - timedelta(days=2))):
        f.registration(
            client,
            admin,
            person["id"],
            valid_from=arrived.isoformat(),
            arrived_on=arrived.isoformat(),
            notified_by="host",
            notified_on=notified.isoformat(),
        )
        f.permit(client, admin, person["id"])
    officer = token("officer")
    checked = {}
    for person in (on_time, late):
        resp = client.post(
            "/api/v1/checks", json={"iin": person["iin"], "location": f.ASTANA}, headers=officer
        )
        checked[person["id"]] = resp.get_json()
    assert checked[on_time["id"]]["warnings"] == []
    assert checked[late["id"]]["verdict"] == "ok"
    assert checked[late["id"]]["warnings"] == ["late_registration"]


def test_the_permit_tax_parameter_is_gone(db: Any) -> None:
    """Nothing computed with it (issue 24): removed rather than kept as a dead number."""
    assert "permit_tax_mrp_per_month" not in policy.PARAMETERS
    with db.engine.connect() as conn:
        assert not conn.execute(
            text("SELECT 1 FROM policy_parameters WHERE name = 'permit_tax_mrp_per_month'")
        ).first()


def test_a_quota_covers_a_medium_term_period(client: Any, admin: Any, db: Any, token: Any) -> None:
    """Seed 004 p. 4: quotas «на среднесрочный период или предстоящий год». One quota for
    three years: its limits hold for the period and every year's admissions count."""
    pavlodar = h.settlement_kato(db, "Pavlodar")
    for year in (YEAR, YEAR + 1):
        with db.transaction() as session:
            session.execute(
                text(
                    "INSERT INTO settlement_lists (year, region_kato, settlement_kato)"
                    " VALUES (:y, :r, :k) ON CONFLICT DO NOTHING"
                ),
                {"y": year, "r": PAVLODAR, "k": pavlodar},
            )
    url = f"/api/v1/quotas/{YEAR}/{PAVLODAR}"
    body = {"kandas": 6, "resettlers": 20, "through_year": YEAR + 2}
    set_ = client.put(url, json=body, headers=admin).get_json()
    assert (set_["from_year"], set_["through_year"]) == (YEAR, YEAR + 2)
    first = _kandas(client, admin)
    assert _apply(client, admin, first["id"], pavlodar, year=YEAR).status_code == 201
    analyst = token("analyst")
    for year in (YEAR, YEAR + 1, YEAR + 2):
        got = client.get(f"/api/v1/quotas/{year}/{PAVLODAR}", headers=analyst).get_json()
        assert (got["kandas"], got["set"], got["fill"]["kandas"]) == (6, True, 4), year
        assert (got["from_year"], got["through_year"]) == (YEAR, YEAR + 2)
    # Next year's family of four finds 2 places left of the period's 6.
    second = _kandas(client, admin)
    full = _apply(client, admin, second["id"], pavlodar, year=YEAR + 1)
    assert full.status_code == 409 and full.get_json()["code"] == "quota_exhausted"
    assert f"{YEAR}-{YEAR + 2} kandas quota" in full.get_json()["detail"]
    small = _apply(client, admin, second["id"], pavlodar, year=YEAR + 1, family_size=2)
    assert small.status_code == 201, small.get_json()
    got = client.get(f"/api/v1/quotas/{YEAR + 2}/{PAVLODAR}", headers=analyst).get_json()
    assert got["fill"]["kandas"] == 6 and got["remaining"]["kandas"] == 0
    # The period cannot shrink below what it admitted, nor another quota overlap it.
    shrunk = client.put(url, json={**body, "kandas": 5}, headers=admin)
    assert shrunk.status_code == 409 and f"in {YEAR}-{YEAR + 2}" in shrunk.get_json()["detail"]
    inside = client.put(
        f"/api/v1/quotas/{YEAR + 1}/{PAVLODAR}", json={"kandas": 9, "resettlers": 9}, headers=admin
    )
    assert inside.status_code == 409 and f"{YEAR}-{YEAR + 2} quota" in inside.get_json()["detail"]
    too_long = client.put(url, json={**body, "through_year": YEAR + 5}, headers=admin)
    assert too_long.status_code == 422
    assert too_long.get_json()["errors"][0]["field"] == "through_year"
    # A one-year quota keeps working beside it.
    after = client.get(f"/api/v1/quotas/{YEAR + 3}/{PAVLODAR}", headers=analyst).get_json()
    assert after["set"] is False
    one = client.put(
        f"/api/v1/quotas/{YEAR + 3}/{PAVLODAR}", json={"kandas": 3, "resettlers": 1}, headers=admin
    ).get_json()
    assert (one["from_year"], one["through_year"], one["fill"]["kandas"]) == (
        YEAR + 3,
        YEAR + 3,
        0,
    )
    # The commands and the analysts' dashboard say the period.
    shown = h.qonys("quota", "show", str(YEAR + 1), "--region", PAVLODAR, check=True).stdout
    assert f"{PAVLODAR}  {YEAR}-{YEAR + 2}  kandas 6/6, resettlers 0/20" in shown
    every = h.qonys("quota", "show", str(YEAR + 1), check=True).stdout
    assert f"{PAVLODAR}  {YEAR}-{YEAR + 2}  kandas 6/6" in every
    assert f"{ATYRAU}  {YEAR + 1}  (no quota)" in every
    made = h.qonys(
        "quota",
        "set",
        PAVLODAR,
        str(YEAR + 4),
        "--through",
        str(YEAR + 6),
        "--kandas",
        "40",
        "--resettlers",
        "10",
        check=True,
    ).stdout
    assert f"{PAVLODAR}  {YEAR + 4}-{YEAR + 6}  kandas 0/40, resettlers 0/10" in made
    overlap = h.qonys("quota", "set", PAVLODAR, str(YEAR + 5), "--kandas", "1", "--resettlers", "1")
    assert overlap.returncode != 0 and "already covers" in overlap.stdout + overlap.stderr
    page = client.get(f"/dashboard?year={YEAR + 1}", headers=analyst).get_data(as_text=True)
    table = page[page.index('id="quota-fill"') :]
    assert f"{YEAR}-{YEAR + 2}" in table[: table.index("</table>")]
