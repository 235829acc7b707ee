"""Residence-permit pre-selection (docs/domain.md rule 13): weighted parts, threshold, reasons."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests import factories as f

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

# Seeded weights: language 0.3, questionnaire 0.2, interview 0.5; threshold 60.
CASES = [
    # (language, questionnaire, interview, checks) → score, decision, reasons
    ((80, 70, 60, True), 68.0, "pass", ["score_at_or_above_threshold"]),
    ((40, 50, 50, True), 47.0, "fail", ["score_below_threshold"]),
    ((60, 60, 60, True), 60.0, "pass", ["score_at_or_above_threshold"]),  # the edge
    ((60, 60, 59.98, True), 59.99, "fail", ["score_below_threshold"]),  # just under
    (
        (100, 100, 100, False),
        100.0,
        "fail",
        ["security_checks_failed", "score_at_or_above_threshold"],
    ),
]


def _post(client: Any, admin: Any, person_id: int, parts: tuple) -> Any:
    language, questionnaire, interview, checks = parts
    return client.post(
        "/api/v1/preselection",
        json={
            "person_id": person_id,
            "language_score": language,
            "questionnaire_score": questionnaire,
            "interview_score": interview,
            "checks_passed": checks,
        },
        headers=admin,
    )


@pytest.mark.parametrize(("parts", "score", "decision", "reasons"), CASES)
def test_decision_and_reasons(
    client: Any, admin: Any, parts: tuple, score: float, decision: str, reasons: list[str]
) -> None:
    person = f.person(client, admin, category="temporary_resident")
    resp = _post(client, admin, person["id"], parts)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["score"], body["decision"], body["reasons"]) == (score, decision, reasons)
    assert body["threshold"] == 60 and body["weights"]["interview"] == 0.5


def test_stored_readable_with_a_purpose_and_audited(
    client: Any, admin: Any, token: Any, db: Any
) -> None:
    person = f.person(client, admin, category="temporary_resident")
    with db.engine.connect() as conn:
        before = conn.scalar(text("SELECT coalesce(max(id), 0) FROM audit_log"))
    first = _post(client, admin, person["id"], (40, 50, 50, True)).get_json()
    second = _post(client, admin, person["id"], (80, 70, 60, True)).get_json()
    analyst = token("analyst")
    url = f"/api/v1/preselection/{person['id']}"
    assert client.get(url, headers=analyst).status_code == 403  # no purpose
    items = client.get(url, headers={**analyst, "X-Purpose": "case RP-7"}).get_json()["items"]
    assert [i["id"] for i in items] == [second["id"], first["id"]]
    assert items[1]["parts"] == {
        "language": 40,
        "questionnaire": 50,
        "interview": 50,
        "checks_passed": True,
    }
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT action, role, purpose FROM audit_log WHERE subject_person_id = :p"
                " AND action LIKE 'preselection.%' AND id > :before ORDER BY id"
            ),
            {"p": person["id"], "before": before},
        ).all()
    assert [tuple(r) for r in rows] == [
        ("preselection.decide", "admin", "fail"),
        ("preselection.decide", "admin", "pass"),
        ("preselection.read", "analyst", "case RP-7"),
    ]
    assert client.get("/api/v1/preselection/999999", headers=admin).status_code == 404


def test_changed_weights_apply_from_their_day(client: Any, admin: Any) -> None:
    resp = client.put(
        "/api/v1/policy-parameters/preselection_threshold",
        json={"value": 70, "effective_from": "2026-01-02"},
        headers=admin,
    )
    assert resp.status_code == 200
    person = f.person(client, admin, category="temporary_resident")
    body = _post(client, admin, person["id"], (80, 70, 60, True)).get_json()
    assert (body["decision"], body["threshold"]) == ("fail", 70)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"language_score": 101}, "language_score"),
        ({"interview_score": -1}, "interview_score"),
        ({"checks_passed": "maybe"}, "checks_passed"),
        ({"person_id": 999999}, "person_id"),
    ],
)
def test_bad_parts_name_the_field(client: Any, admin: Any, change: dict, field: str) -> None:
    person = f.person(client, admin, category="temporary_resident")
    body = {
        "person_id": person["id"],
        "language_score": 50,
        "questionnaire_score": 50,
        "interview_score": 50,
        "checks_passed": True,
        **change,
    }
    resp = client.post("/api/v1/preselection", json=body, headers=admin)
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == field


def test_admins_need_a_purpose_too(client: Any, admin: Any, token: Any) -> None:
    """Issue 28, F16: an administrator reads pre-selection (and any person's data) only
    with a case reference, like an analyst."""
    person = f.person(client, admin, category="temporary_resident")
    _post(client, admin, person["id"], (80, 70, 60, True))
    bare = token("admin")  # no X-Purpose
    for url in (
        f"/api/v1/preselection/{person['id']}",
        f"/api/v1/persons/{person['id']}",
        "/api/v1/alerts",
    ):
        refused = client.get(url, headers=bare)
        assert refused.status_code == 403 and "X-Purpose" in refused.get_json()["detail"], url
        assert client.get(url, headers={**bare, "X-Purpose": "case RP-8"}).status_code == 200
