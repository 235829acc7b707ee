"""Evidence before money (issue 28, F1): a back-dated batch cannot make a breach.

The attack: from the family's own phone token, one batch of 162 back-dated points fakes a
27-hour stay in Almaty. The alert may open, for an official to look at; it states that it
rests on backfilled fixes, and neither its confirmation nor an administrator's decision
can turn it into a suspected or breached obligation.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import text

from backend.services.access import accounts
from backend.services.tracking import alert_rules
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

YEAR = date.today().year
PAVLODAR_REGION = "550000000"
ALMATY = (43.25, 76.93)


@pytest.fixture
def family(client: Any, admin: Any, token: Any, db: Any) -> dict[str, Any]:
    """A kandas family admitted to a Pavlodar settlement, with its phone token."""
    kato = h.settlement_kato(db, "Pavlodar")
    client.put(
        f"/api/v1/quotas/{YEAR}/{PAVLODAR_REGION}",
        json={"kandas": 10, "resettlers": 5},
        headers=admin,
    )
    client.put(
        f"/api/v1/settlement-lists/{YEAR}/{PAVLODAR_REGION}",
        json={"settlements": [kato]},
        headers=admin,
    )
    person = f.person(client, admin, citizenship="KAZ", category="kandas", iin=f.valid_iin())
    body = {"person_id": person["id"], "family_size": 2, "settlement_kato": kato}
    assert client.post("/api/v1/kandas/applications", json=body, headers=admin).status_code == 201
    return {"person": person, "device": token("device", person_id=person["id"])}


def _stay_in_almaty(hours: float, points: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(hours=hours + 0.5)
    step = timedelta(hours=hours) / (points - 1)
    return [
        {"t": (start + step * i).isoformat(), "lat": ALMATY[0], "lon": ALMATY[1]}
        for i in range(points)
    ]


def _settlement_alert(client: Any, token: Any) -> dict[str, Any]:
    analyst = {**token("analyst"), "X-Purpose": "case E-1"}
    items = client.get("/api/v1/alerts?kind=left_settlement_region", headers=analyst).get_json()
    assert len(items["items"]) == 1, items
    return dict(items["items"][0])


def _obligation(client: Any, token: Any, person_id: int) -> dict[str, Any]:
    analyst = {**token("analyst"), "X-Purpose": "case E-1"}
    return dict(client.get(f"/api/v1/kandas/{person_id}/obligation", headers=analyst).get_json())


def test_one_backdated_batch_opens_an_alert_but_no_money_decision(
    client: Any, token: Any, family: dict, app: Any, db: Any
) -> None:
    person_id = family["person"]["id"]
    sent = client.post(
        "/api/v1/traces", json={"points": _stay_in_almaty(27, 162)}, headers=family["device"]
    )
    assert sent.status_code == 202 and sent.get_json()["accepted"] == 162
    with db.engine.connect() as conn:
        flagged = conn.scalar(
            text(
                "SELECT count(*) FROM trace_points WHERE person_id = :p"
                " AND 'backfilled' = ANY(flags) AND received_at > recorded_at"
            ),
            {"p": person_id},
        )
    assert flagged >= 160  # all but the last quarter-hour's points
    alert_rules.evaluate_dirty(db, app.extensions["qonys.settings"])

    # The alert opens for a human to look at, and says what it rests on.
    alert = _settlement_alert(client, token)
    evidence = alert["details"]["evidence"]
    assert evidence["rests_on"] == "backfilled_fixes"
    assert evidence["backfilled_fixes"] >= 160 and evidence["live_fixes"] <= 2
    assert evidence["sources"] == ["batch"] and evidence["device_dwell_hours"] >= 26.9
    assert evidence["live_dwell_hours"] < 1

    # Confirming it cannot make the obligation suspected: refused, nothing changes.
    analyst = {**token("analyst"), "X-Purpose": "case E-1"}
    refused = client.post(
        f"/api/v1/alerts/{alert['id']}/resolution",
        json={"reason": "seen in the traces", "confirmed": True},
        headers=analyst,
    )
    assert refused.status_code == 409 and "backfilled" in refused.get_json()["detail"]
    assert _obligation(client, token, person_id)["status"] == "active"
    assert _settlement_alert(client, token)["status"] == "open"
    # Two settlement officials cannot issue a claim on a departure never suspected.
    decided = client.post(
        f"/api/v1/kandas/{person_id}/obligation/decision",
        json={"decision": "issue", "reason": "faked"},
        headers=token("settlement_official"),
    )
    assert decided.status_code == 409
    # Closing it without confirming stays possible: the official looked and dismissed it.
    closed = client.post(
        f"/api/v1/alerts/{alert['id']}/resolution",
        json={"reason": "back-dated upload, no departure", "confirmed": False},
        headers=analyst,
    )
    assert closed.status_code == 200
    assert _obligation(client, token, person_id)["status"] == "active"


def test_live_fixes_are_evidence(client: Any, token: Any, family: dict, app: Any, db: Any) -> None:
    """The same stay reported as it happened (each fix received at its time) is evidence."""
    h.receive_live(app, family["person"]["id"], _stay_in_almaty(27, 109))
    alert_rules.evaluate_dirty(db, app.extensions["qonys.settings"])
    alert = _settlement_alert(client, token)
    evidence = alert["details"]["evidence"]
    assert evidence["rests_on"] == "live_fixes" and evidence["backfilled_fixes"] == 0
    assert evidence["live_fixes"] == 109 and evidence["live_dwell_hours"] >= 26.9
    resp = client.post(
        f"/api/v1/alerts/{alert['id']}/resolution",
        json={"reason": "seen in Almaty", "confirmed": True},
        headers={**token("analyst"), "X-Purpose": "case E-2"},
    )
    assert resp.status_code == 200
    assert _obligation(client, token, family["person"]["id"])["status"] == "suspected"


def test_a_suspected_departure_resting_on_backfilled_fixes_cannot_be_confirmed(
    client: Any, token: Any, family: dict, db: Any
) -> None:
    """An obligation made suspected by an alert before evidence was recorded (or by any
    path that skipped the check) is not turned into money by two administrators."""
    person_id = family["person"]["id"]
    evidence = {"source": "alert", "alert_id": 1, "details": {"region_kato": PAVLODAR_REGION}}
    with db.transaction() as session:
        session.execute(
            text(
                "UPDATE settlement_obligations SET status = 'suspected', claim_status = 'suspected',"
                " breach_detected_on = CURRENT_DATE, breach_evidence = CAST(:e AS jsonb)"
                " WHERE person_id = :p"
            ),
            {"p": person_id, "e": json.dumps(evidence)},
        )
    for _ in range(2):
        decided = client.post(
            f"/api/v1/kandas/{person_id}/obligation/decision",
            json={"decision": "issue", "reason": "faked"},
            headers=token("settlement_official"),
        )
    assert decided.status_code == 409 and "backfilled" in decided.get_json()["detail"]
    assert _obligation(client, token, person_id)["status"] == "suspected"


def test_home_page_shows_what_an_alert_rests_on(
    client: Any, token: Any, family: dict, app: Any, db: Any
) -> None:
    client.post(
        "/api/v1/traces", json={"points": _stay_in_almaty(27, 60)}, headers=family["device"]
    )
    alert_rules.evaluate_dirty(db, app.extensions["qonys.settings"])
    with db.transaction() as session:
        accounts.create_user(session, "evi", "analyst", "correct horse battery")

    def csrf(html: str) -> str:
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
        assert found
        return found.group(1)

    login = {"username": "evi", "password": "correct horse battery"}
    client.post("/login", data={"csrf_token": csrf(client.get("/login").get_data(True)), **login})
    page = client.get("/login/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    code = pyotp.TOTP(secret.group(1)).now()
    assert (
        client.post("/login/totp", data={"csrf_token": csrf(page), "code": code}).status_code == 302
    )
    home = client.get("/").get_data(as_text=True)
    client.post("/", data={"csrf_token": csrf(home), "form": "purpose", "purpose": "case E-3"})
    home = client.get("/?lang=en").get_data(as_text=True)
    assert "live fixes: 0" in home or "live fixes: 1" in home
    assert "backfilled fixes: " in home and "not evidence of a departure" in home


def test_phone_fixes_sent_late_are_backfilled(client: Any, family: dict, db: Any, app: Any) -> None:
    """The phone path marks a fix received long after its device time the same way."""
    secret = family["device"]["Authorization"].split()[1]
    late = datetime.now(UTC) - timedelta(hours=5)
    fresh = datetime.now(UTC) - timedelta(seconds=30)
    for t in (late, fresh):
        ms = int(t.timestamp() * 1000)
        resp = client.get(
            f"/api/v1/traces/osmand?id={secret}&lat=52.28&lon=76.97&timestamp={ms}&hdop=5"
        )
        assert resp.status_code == 200
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT coalesce('backfilled' = ANY(flags), false) FROM trace_points"
                " WHERE person_id = :p ORDER BY recorded_at"
            ),
            {"p": family["person"]["id"]},
        ).scalars()
        assert list(rows) == [True, False]
