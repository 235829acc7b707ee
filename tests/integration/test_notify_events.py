"""The rest of "tell people" (issue 26): hosts and foreigners before their registration
deadline, settlement officials of departures and claims, and the webhooks of claims and
merges — through a real SMTP server (aiosmtpd) and real local HTTP receivers."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend import clock
from backend.jobs import permits as permit_jobs
from backend.jobs.base import job_settings
from backend.models import OutboxMessage
from backend.services.access import accounts
from backend.services.notify import notify
from backend.services.register.registrations import registration_deadline
from tests import factories as f
from tests import helpers as h
from tests.receivers import http_receiver, smtp_server

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PASSWORD = "correct-horse-battery"
PAVLODAR_REGION = "550000000"
YEAR = date.today().year


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Any:
    with smtp_server() as server:
        monkeypatch.setenv("QONYS_SMTP_URL", server.url)
        job_settings.cache_clear()
        yield server
    job_settings.cache_clear()


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Any:
    with http_receiver() as receiver:
        monkeypatch.setenv("QONYS_SMS_GATEWAY_URL", receiver.url)
        job_settings.cache_clear()
        yield receiver
    job_settings.cache_clear()


def _user(db: Any, name: str, role: str, **extra: Any) -> None:
    with db.transaction() as session:
        accounts.create_user(session, name, role, PASSWORD, **extra)


def _rows(db: Any, event: str) -> list[OutboxMessage]:
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.event_type == event)
                .order_by(OutboxMessage.id)
            )
        )
        session.expunge_all()
        return rows


def _contact(client: Any, admin: Any, person_id: int, **over: Any) -> Any:
    body = {
        "relation": "host",
        "email": "host@example.kz",
        "phone": "+77011234567",
        "language": "en",
        "purpose": "registration reminders",
        "consent": True,
        **over,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return client.post(f"/api/v1/persons/{person_id}/contacts", json=body, headers=admin)


def test_a_host_is_reminded_of_the_registration_deadline_once(
    app: Any, client: Any, admin: Any, db: Any, mail: Any, gateway: Any
) -> None:
    arrived = clock.today() - timedelta(days=2)
    person = f.person(client, admin)  # a citizen of Uzbekistan, not registered yet
    resp = _contact(client, admin, person["id"], arrived_on=arrived.isoformat())
    assert resp.status_code == 201 and resp.get_json()["arrived_on"] == arrived.isoformat()
    # Someone registered already since the arrival hears nothing.
    done = f.person(client, admin)
    f.registration(client, admin, done["id"], valid_from=arrived.isoformat())
    assert _contact(client, admin, done["id"], arrived_on=arrived.isoformat()).status_code == 201
    with db.transaction() as session:
        deadline = registration_deadline(session, arrived, "host")  # rule 8: 3 working days
    assert deadline == clock.add_working_days(arrived, 3)
    with db.transaction() as session:  # the day of arrival: too early
        assert notify.registration_deadline_reminders(session, 1, arrived) == 0
    for _ in range(2):  # the working day before the deadline; the hourly job again: once
        with db.transaction() as session:
            notify.registration_deadline_reminders(session, 1, deadline - timedelta(days=1))
    with db.transaction() as session:  # the deadline day itself: still the same case
        assert notify.registration_deadline_reminders(session, 1, deadline) == 0
    h.run_jobs(app)
    [message] = mail.messages
    assert message["To"] == "host@example.kz"
    assert message["Subject"] == f"Registration due by {deadline.isoformat()}"
    body = message.get_content()
    assert person["iin"] not in body and "http://127.0.0.1:8000/" in body
    [sms] = gateway.requests
    sent = json.loads(sms.body)
    assert sent["recipient"] == "+77011234567"
    assert sent["text"].startswith(f"Registration due by {deadline.isoformat()}")
    assert {r.status for r in _rows(db, "registration.deadline")} == {"delivered"}
    # The scheduled job runs the same (today is not in the window: nothing more).
    assert permit_jobs.remind_registration_deadline() == 0


def test_an_arrival_in_the_future_is_refused_naming_the_field(client: Any, admin: Any) -> None:
    person = f.person(client, admin)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    resp = _contact(client, admin, person["id"], arrived_on=tomorrow)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["errors"][0]["field"] == "arrived_on"
    bad = _contact(client, admin, person["id"], arrived_on="yesterday")
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "arrived_on"


def test_the_registration_recorded_message_exists_in_the_contacts_language(
    app: Any, client: Any, admin: Any, db: Any, mail: Any
) -> None:
    person = f.person(client, admin)
    assert _contact(client, admin, person["id"], phone=None, language="ru").status_code == 201
    f.registration(client, admin, person["id"])
    h.run_jobs(app)
    [message] = mail.messages
    assert message["Subject"] == "Регистрация оформлена"


@pytest.fixture
def pavlodar(client: Any, admin: Any, db: Any) -> str:
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
    return kato


def _suspected_family(client: Any, admin: Any, settlement: str) -> dict[str, Any]:
    """A kandas family admitted to Pavlodar that registered for good in Almaty."""
    person = f.person(client, admin, citizenship="KAZ", category="kandas", iin=f.valid_iin())
    resp = client.post(
        "/api/v1/kandas/applications",
        json={"person_id": person["id"], "family_size": 2, "settlement_kato": settlement},
        headers=admin,
    )
    assert resp.status_code in (200, 201), resp.get_json()
    f.registration(client, admin, person["id"], kind="permanent", location=f.ALMATY, valid_to=None)
    return person


def test_settlement_officials_hear_of_departures_and_claims_in_their_language(
    app: Any, client: Any, admin: Any, db: Any, mail: Any, pavlodar: str, token: Any
) -> None:
    # Settlement officials are national accounts (no region); one without an address and
    # an officer hear nothing.
    _user(db, "pav", "settlement_official", email="pav@gov.kz")
    _user(db, "nat", "settlement_official", email="nat@gov.kz", language="kk")
    _user(db, "mute", "settlement_official")
    _user(db, "cop", "officer", email="cop@police.kz")
    person = _suspected_family(client, admin, pavlodar)
    h.run_jobs(app)
    suspected = sorted(mail.messages, key=lambda m: m["To"])
    assert [m["To"] for m in suspected] == ["nat@gov.kz", "pav@gov.kz"]
    assert suspected[0]["Subject"].startswith("Көшіп кету күдігі")
    assert suspected[1]["Subject"].startswith("Подозрение на выезд")
    body = suspected[1].get_content()
    assert person["iin"] not in body and "Almaty" not in body and "43.25" not in body
    url = f"/api/v1/kandas/{person['id']}/obligation/decision"
    for decision in ("issue", "issue", "contested", "paid"):
        resp = client.post(
            url, json={"decision": decision, "reason": "r"}, headers=token("settlement_official")
        )
        assert resp.status_code == 200, resp.get_json()
    h.run_jobs(app)
    later = [m for m in mail.messages if m not in suspected]
    assert sorted((m["To"], m["Subject"].split(":")[0]) for m in later) == [
        ("nat@gov.kz", "Талап төленді"),
        ("nat@gov.kz", "Талапқа дау айтылды"),
        ("pav@gov.kz", "Требование оплачено"),
        ("pav@gov.kz", "Требование оспорено"),
    ]


def _subscribe(client: Any, admin: Any, url: str, *events: str) -> None:
    resp = client.post("/api/v1/webhooks", json={"url": url, "events": list(events)}, headers=admin)
    assert resp.status_code == 201, resp.get_json()


def test_departures_claims_and_merges_are_webhooks(
    app: Any, client: Any, admin: Any, db: Any, pavlodar: str, token: Any
) -> None:
    with http_receiver() as receiver:
        _subscribe(
            client, admin, receiver.url, "obligation.suspected", "claim.issued", "duplicate.merged"
        )
        person = _suspected_family(client, admin, pavlodar)
        url = f"/api/v1/kandas/{person['id']}/obligation/decision"
        for _ in range(2):  # four eyes: the second official issues the claim
            client.post(
                url, json={"decision": "issue", "reason": "r"}, headers=token("settlement_official")
            )
        body = {
            "surname_cyrillic": "Жанұзақов",
            "given_name_cyrillic": "Айдос",
            "birth_date": "1990-01-15",
            "sex": "M",
            "citizenship": "CHN",
            "category": "kandas",
        }
        first = f.created(client.post("/api/v1/persons", json=body, headers=admin))
        second = f.created(client.post("/api/v1/persons", json=body, headers=admin))
        review = client.get("/api/v1/duplicates?status=open", headers=admin).get_json()["items"][0]
        decided = client.post(
            f"/api/v1/duplicates/{review['id']}/decision",
            json={"decision": "same", "reason": "one man"},
            headers=admin,
        )
        assert decided.status_code == 200, decided.get_json()
        merge = decided.get_json()["merge"]
        h.run_jobs(app)
        events = {json.loads(r.body)["type"]: json.loads(r.body)["data"] for r in receiver.requests}
    assert set(events) == {"obligation.suspected", "claim.issued", "duplicate.merged"}
    assert events["obligation.suspected"]["person_id"] == person["id"]
    claim = events["claim.issued"]
    assert claim["person_id"] == person["id"] and claim["status"] == "claim_issued"
    assert float(claim["amount_due_kzt"]) >= 0 and claim["issued_at"]
    assert events["duplicate.merged"] == {
        "merge_id": merge["id"],
        "survivor_id": merge["survivor_id"],
        "merged_id": merge["merged_id"],
    }
    assert {merge["survivor_id"], merge["merged_id"]} == {first["id"], second["id"]}
    # The OpenAPI document describes each under x-webhooks.
    hooks = client.get("/api/v1/openapi.json").get_json()["x-webhooks"]
    assert {"claim.issued", "duplicate.merged"} <= set(hooks)
