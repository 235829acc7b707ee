"""Policy parameters: legal numbers as dated data, read by analysts, set by admins, audited."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.services import policy
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

NEXT_YEAR = date(date.today().year + 1, 1, 1)


def _audit(db: Any, action: str) -> list[Any]:
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT actor, role, purpose FROM audit_log WHERE action = :a ORDER BY id"),
            {"a": action},
        ).all()


def test_every_parameter_is_in_force_with_its_source(client: Any, token: Any) -> None:
    page = client.get("/api/v1/policy-parameters", headers=token("analyst")).get_json()
    items = {i["name"]: i for i in page["items"]}
    assert set(items) == set(policy.PARAMETERS)
    for item in items.values():
        # Every value is in force today but the 97 % retention target, set for 2027.
        assert (item["value"] is None) == (item["name"] == "target_retention_3y"), item["name"]
        assert item["rule"] and item["history"], item["name"]
        assert {v["source"] for v in item["history"]} <= {"seed", "statute", "assumption"}
    # Seeds and assumptions are told apart (docs/domain.md: "A rule marked assumption ...").
    assert items["obligation_years"]["value"] == 5 and items["obligation_years"]["source"] == "seed"
    assert items["relocation_mrp_per_member"]["source"] == "assumption"
    assert items["designated_areas"]["source"] == "seed"
    assert len(items["designated_areas"]["value"]) == 8
    # MRP by year: the value in force on a day is that year's.
    mrp = client.get("/api/v1/policy-parameters/mrp?on=2024-06-30", headers=token("analyst"))
    assert mrp.get_json()["value"] == 3692 and mrp.get_json()["effective_from"] == "2024-01-01"
    years = [v["effective_from"][:4] for v in mrp.get_json()["history"]]
    assert years == ["2023", "2024", "2025", "2026"]
    # Table 1 targets by year.
    target = "/api/v1/policy-parameters/target_internal_mobility_share"
    assert client.get(f"{target}?on=2023-03-01", headers=token("analyst")).get_json()["value"] == (
        0.132
    )
    assert client.get(f"{target}?on=2027-03-01", headers=token("analyst")).get_json()["value"] == (
        0.162
    )


def test_an_admin_sets_a_value_from_a_day_and_it_is_audited(
    client: Any, admin: Any, db: Any
) -> None:
    resp = client.put(
        "/api/v1/policy-parameters/mrp",
        json={"value": 4500, "effective_from": NEXT_YEAR.isoformat(), "reference": "Budget law"},
        headers=admin,
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["value"] == 4325  # today's value is unchanged
    assert body["history"][-1]["value"] == 4500
    assert body["history"][-1]["effective_from"] == NEXT_YEAR.isoformat()
    assert body["history"][-1]["source"] == "assumption"
    with db.transaction() as session:
        assert policy.value(session, "mrp") == 4325
        assert policy.value(session, "mrp", NEXT_YEAR) == 4500
        assert policy.value(session, "mrp", NEXT_YEAR - timedelta(days=1)) == 4325
    # Setting the same day again replaces it, and the audit row says what was replaced.
    client.put(
        "/api/v1/policy-parameters/mrp",
        json={"value": 4600, "effective_from": NEXT_YEAR.isoformat()},
        headers=admin,
    )
    rows = _audit(db, "policy.set")
    assert rows[-2].role == "admin" and "mrp = 4500" in rows[-2].purpose
    assert "mrp = 4600" in rows[-1].purpose and "replacing 4500" in rows[-1].purpose


def test_bad_values_are_refused_naming_the_field(client: Any, admin: Any) -> None:
    def put(name: str, value: Any, **extra: Any) -> Any:
        body = {"value": value, "effective_from": NEXT_YEAR.isoformat(), **extra}
        return client.put(f"/api/v1/policy-parameters/{name}", json=body, headers=admin)

    for name, value, says in (
        ("obligation_years", "five", "integer"),
        ("obligation_years", -1, "0-20"),
        ("designated_areas", ["55"], "9-digit"),
        ("zone_weights", {"labour_demand": 1.0}, "exactly"),
        (
            "zone_weights",
            {
                "labour_demand": 0.5,
                "quota_headroom": 0.5,
                "infrastructure": 0.5,
                "population_trend": 0.0,
            },
            "sum to 1",
        ),
        ("list_deadline", "12-45", "month-day"),
        ("permit_min_months", 13, "must not exceed"),
        ("obligation_applies_to_resettlers", "yes", "true or false"),
    ):
        resp = put(name, value)
        assert resp.status_code == 422, (name, resp.get_json())
        assert resp.get_json()["errors"][0]["field"] == "value"
        assert says in resp.get_json()["detail"], (name, resp.get_json())
    assert put("mrp", 4500, source="rumour").status_code == 422
    assert put("no_such_parameter", 1).status_code == 404
    missing = client.put("/api/v1/policy-parameters/mrp", json={"value": 1}, headers=admin)
    assert missing.status_code == 422 and "effective_from" in missing.get_json()["detail"]


def test_the_command_line_shows_and_sets_and_audits(db: Any) -> None:
    shown = h.qonys("policy", "show", check=True).stdout
    assert "obligation_years = 5 years  from 2026-01-01, seed: seed 003" in shown
    one = h.qonys("policy", "show", "mrp", "--on", "2025-05-01", check=True).stdout
    assert one.startswith(
        "mrp = 3932 KZT  from 2025-01-01, statute: Закон РК «О республиканском бюджете на "
        "2025-2027 годы»"
    )
    assert "2026-01-01  4325" in one
    when = NEXT_YEAR.isoformat()
    h.qonys("policy", "set", "designated_areas", "550000000,590000000", "--from", when, check=True)
    with db.transaction() as session:
        assert policy.katos(session, "designated_areas", NEXT_YEAR) == ["550000000", "590000000"]
        assert len(policy.katos(session, "designated_areas")) == 8
    refused = h.qonys("policy", "set", "--from", when, "--", "obligation_years", "-3")
    assert refused.returncode != 0 and "0-20" in refused.stderr
    rows = _audit(db, "policy.set")
    assert rows[-1].actor.startswith("cli:") and "designated_areas" in rows[-1].purpose
