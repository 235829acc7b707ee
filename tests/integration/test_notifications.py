"""Who hears what, through a real SMTP server (aiosmtpd) and a real HTTP SMS gateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, text

from backend import clock
from backend.jobs import outbox as outbox_jobs
from backend.jobs.base import job_settings
from backend.models import OutboxMessage
from backend.services.access import accounts
from backend.services.notify import notify, outbox
from backend.services.notify.channels import SENDERS
from backend.services.tracking import alert_store
from tests import factories as f
from tests import helpers as h
from tests.receivers import http_receiver, smtp_server, smtp_starttls_server

# The local server takes AUTH in plain text: it offers no STARTTLS (see tests/receivers.py).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PASSWORD = "correct-horse-battery"
OTHER_REGION = "750000000"  # Almaty city


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real SMTP server asking for AUTH; jobs read its URL from the environment."""
    with smtp_server() as server:
        monkeypatch.setenv("QONYS_SMTP_URL", server.url)
        monkeypatch.setenv("QONYS_MAIL_FROM", "qonys@migration.example.kz")
        job_settings.cache_clear()
        yield server
    job_settings.cache_clear()


def _user(db: Any, name: str, role: str, **extra: Any) -> None:
    delivery = extra.pop("alert_delivery", None)
    with db.transaction() as session:
        accounts.create_user(session, name, role, PASSWORD, **extra)
        if delivery:
            accounts.set_notifications(session, name, alert_delivery=delivery)


def _open(db: Any, person_id: int, kind: str, region: str) -> None:
    with db.transaction() as session:
        alert_store.open_alert(session, person_id, kind, region, {"lat": 51.16, "lon": 71.47})


def _rows(db: Any) -> list[OutboxMessage]:
    with db.transaction() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def test_an_sos_reaches_its_officers_by_email_at_once(
    app: Any, client: Any, admin: Any, db: Any, mail: Any
) -> None:
    person = f.person(client, admin)
    # An SOS goes to every officer of the region at once, whatever each chose.
    _user(db, "duty", "officer", region_kato=f.ASTANA_KATO, email="duty@police.example.kz")
    _user(
        db,
        "quiet",
        "officer",
        region_kato=f.ASTANA_KATO,
        email="quiet@police.example.kz",
        alert_delivery="never",
    )
    _user(db, "far", "officer", region_kato=OTHER_REGION, email="far@police.example.kz")
    _open(db, person["id"], "sos", f.ASTANA_KATO)
    h.run_jobs(app)
    assert sorted(m["To"] for m in mail.messages) == [
        "duty@police.example.kz",
        "quiet@police.example.kz",
    ]
    message = mail.messages[0]
    assert message["Subject"] == "SOS в вашем регионе"
    assert message["From"] == "qonys@migration.example.kz"
    body = message.get_content()
    assert "http://127.0.0.1:8000/" in body  # a link to sign in for the details
    assert "51.16" not in body and person["iin"] not in body and "Каримов" not in body
    assert mail.mailbox.logins  # it authenticated
    ids = {m["Message-ID"] for m in mail.messages}
    assert ids == {f"<{r.message_id}@qonys>" for r in _rows(db)}


def test_other_alerts_follow_each_officers_choice(
    app: Any, client: Any, admin: Any, db: Any, mail: Any, migrated: Any
) -> None:
    person = f.person(client, admin)
    _user(db, "now", "officer", region_kato=f.ASTANA_KATO, email="now@police.example.kz")
    _user(
        db,
        "hourly",
        "officer",
        region_kato=f.ASTANA_KATO,
        email="hour@police.example.kz",
        alert_delivery="hourly",
        language="en",
    )
    _user(
        db,
        "never",
        "officer",
        region_kato=f.ASTANA_KATO,
        email="never@police.example.kz",
        alert_delivery="never",
    )
    _open(db, person["id"], "left_permit_region", f.ASTANA_KATO)
    _open(db, person["id"], "residence_mismatch", f.ASTANA_KATO)
    h.run_jobs(app)
    assert all(m["Subject"].startswith("Новое оповещение: ") for m in mail.messages)
    assert {m["To"] for m in mail.messages} == {"now@police.example.kz"}
    assert len(mail.messages) == 2
    waiting = [r for r in _rows(db) if r.status == "pending"]
    assert {r.recipient for r in waiting} == {"hour@police.example.kz"} and len(waiting) == 2
    # The next hour: one digest for both alerts, in the officer's language.
    next_hour = waiting[0].next_attempt_at
    queue = app.extensions["qonys.queue"]
    assert outbox_jobs.dispatch(next_hour - timedelta(seconds=1), queue) == 0
    assert outbox_jobs.dispatch(next_hour, queue) == 2
    for row in waiting:
        outbox.deliver(db, job_settings(), row.id, SENDERS, next_hour)
    digest = [m for m in mail.messages if m["To"] == "hour@police.example.kz"]
    assert len(digest) == 1 and digest[0]["Subject"] == "New alerts in your region: 2"
    body = digest[0].get_content()
    assert "Outside the permit region" in body and "Spends nights away" in body
    assert {r.status for r in _rows(db)} == {"delivered"}


def test_an_employers_expiry_reminder_comes_once_in_kazakh(
    app: Any, client: Any, admin: Any, db: Any, mail: Any
) -> None:
    bin_ = f.employer(client, admin)
    person = f.person(client, admin)
    ends = clock.today() + timedelta(days=5)
    permit = f.permit(
        client,
        admin,
        person["id"],
        employer_bin=bin_,
        valid_from=(ends - timedelta(days=150)).isoformat(),
        valid_to=ends.isoformat(),
    )
    _user(db, "firm", "employer", employer_bin=bin_, email="hr@firm.example.kz", language="kk")
    with db.transaction() as session:
        assert notify.permit_expiry_reminders(session, 5) == 1
    with db.transaction() as session:  # the hourly job again: the same message, not a second
        notify.permit_expiry_reminders(session, 5)
    outbox_jobs.dispatch(queue=app.extensions["qonys.queue"])
    h.run_jobs(app)
    [message] = mail.messages
    assert message["To"] == "hr@firm.example.kz"
    assert message["Subject"] == f"Жұмысқа рұқсаттың мерзімі {ends.isoformat()} аяқталады"
    body = message.get_content()
    assert permit["number"] in body and "/employer" in body and person["iin"] not in body


def test_a_late_notice_and_a_revocation_reach_the_employer(
    app: Any, client: Any, admin: Any, db: Any, mail: Any, token: Any
) -> None:
    bin_ = f.employer(client, admin)
    _user(db, "firm", "employer", employer_bin=bin_, email="hr@firm.example.kz", language="en")
    first = f.permit(client, admin, f.person(client, admin)["id"], employer_bin=bin_)
    second = f.permit(client, admin, f.person(client, admin)["id"], employer_bin=bin_)
    late_day = (date.fromisoformat(first["valid_from"]) + timedelta(days=1)).isoformat()
    resp = client.post(
        f"/api/v1/employers/{bin_}/termination-notices",
        json={"permit_id": first["id"], "last_working_day": late_day, "reason": "left"},
        headers=token("employer", employer_bin=bin_),
    )
    assert resp.status_code == 201, resp.get_json()
    resp = client.post(
        f"/api/v1/permits/{second['id']}/revocation", json={"reason": "fraud"}, headers=admin
    )
    assert resp.status_code == 200, resp.get_json()
    h.run_jobs(app)
    assert sorted(m["Subject"] for m in mail.messages) == [
        "A work permit was revoked",
        "Termination notice filed late",
    ]


def test_a_registration_reaches_the_host_by_sms_and_email(
    app: Any, client: Any, admin: Any, db: Any, mail: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with http_receiver() as gateway:
        monkeypatch.setenv("QONYS_SMS_GATEWAY_URL", gateway.url)
        monkeypatch.setenv("QONYS_SMS_GATEWAY_AUTH", "Bearer gw-token")
        job_settings.cache_clear()
        person = f.person(client, admin)
        resp = client.post(
            f"/api/v1/persons/{person['id']}/contacts",
            json={
                "relation": "host",
                "email": "host@example.kz",
                "phone": "+77011234567",
                "language": "kk",
                "purpose": "registration reminders",
                "consent": True,
            },
            headers=admin,
        )
        assert resp.status_code == 201, resp.get_json()
        f.registration(client, admin, person["id"])
        h.run_jobs(app)
    [sms] = gateway.requests
    assert sms.headers["authorization"] == "Bearer gw-token"
    sent = json.loads(sms.body)
    assert sent["recipient"] == "+77011234567" and sent["text"].startswith("Тіркеу ресімделді")
    assert person["iin"] not in sent["text"] and "http" in sent["text"]
    assert sent["id"] == sms.headers["idempotency-key"]
    [message] = mail.messages
    assert message["To"] == "host@example.kz" and message["Subject"] == "Тіркеу ресімделді"


def test_contacts_need_consent_and_every_change_is_audited(
    client: Any, admin: Any, db: Any
) -> None:
    person = f.person(client, admin)
    since = h.count(db, "audit_log") and _last_audit(db)
    url = f"/api/v1/persons/{person['id']}/contacts"
    body = {"relation": "self", "phone": "+77011234567", "purpose": "reminders"}
    refused = client.post(url, json={**body, "consent": False}, headers=admin)
    assert refused.status_code == 422 and "consent" in json.dumps(refused.get_json())
    bad = client.post(url, json={**body, "consent": True, "phone": "8701"}, headers=admin)
    assert bad.status_code == 422 and "phone" in json.dumps(bad.get_json())
    made = client.post(url, json={**body, "consent": True}, headers=admin).get_json()
    assert made["retain_until"] == (clock.today() + timedelta(days=365)).isoformat()
    listed = client.get(url, headers={**admin, "X-Purpose": "case 12/3"}).get_json()
    assert [c["id"] for c in listed["items"]] == [made["id"]]
    assert client.delete(f"{url}/{made['id']}", headers=admin).status_code == 204
    with db.engine.connect() as conn:
        actions = (
            conn.execute(
                text(
                    "SELECT action FROM audit_log WHERE subject_person_id = :p AND id > :since"
                    " AND action LIKE 'contact.%' ORDER BY id"
                ),
                {"p": person["id"], "since": since},
            )
            .scalars()
            .all()
        )
    assert actions == ["contact.create", "contact.read", "contact.delete"]


def _last_audit(db: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT max(id) FROM audit_log")).scalar_one())


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "the form has no CSRF token"
    return found.group(1)


def _sign_in(client: Any, db: Any, username: str, totp: bool = False) -> None:
    if totp:
        with db.transaction() as session:
            session.execute(
                text(
                    "UPDATE users SET totp_secret = :s, totp_confirmed = true WHERE username = :u"
                ),
                {"s": TOTP_SECRET, "u": username},
            )
    page = client.get("/login").get_data(as_text=True)
    client.post(
        "/login", data={"csrf_token": _csrf(page), "username": username, "password": PASSWORD}
    )
    if totp:
        page = client.get("/login/totp").get_data(as_text=True)
        client.post(
            "/login/totp",
            data={"csrf_token": _csrf(page), "code": pyotp.TOTP(TOTP_SECRET).now()},
        )


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_an_officer_chooses_how_alerts_reach_them_on_their_page(client: Any, db: Any) -> None:
    _user(db, "aidar", "officer", region_kato=f.ASTANA_KATO)
    _sign_in(client, db, "aidar")
    assert "/notifications" in client.get("/officer").get_data(as_text=True)  # linked
    page = client.get("/notifications").get_data(as_text=True)
    assert 'name="alert_delivery"' in page
    resp = client.post(
        "/notifications",
        data={
            "csrf_token": _csrf(page),
            "email": "Aidar@Police.example.kz",
            "language": "kk",
            "alert_delivery": "hourly",
            "report_schedule": "",
        },
    )
    assert resp.status_code == 200
    with db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT email, language, alert_delivery FROM users WHERE username = 'aidar'")
        ).one()
    assert tuple(row) == ("Aidar@police.example.kz", "kk", "hourly")


def test_an_admin_sets_an_accounts_email_and_resends_a_dead_message(
    client: Any, db: Any, migrated: Any
) -> None:
    _user(db, "root", "admin")
    _user(db, "dana", "analyst")
    _sign_in(client, db, "root", totp=True)
    page = client.get("/notifications").get_data(as_text=True)
    assert "dana" in page
    client.post(
        "/notifications",
        data={
            "csrf_token": _csrf(page),
            "username": "dana",
            "email": "dana@stat.example.kz",
            "language": "en",
            "alert_delivery": "immediately",
            "report_schedule": "weekly",
        },
    )
    with db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT email, report_schedule FROM users WHERE username = 'dana'")
        ).one()
    assert tuple(row) == ("dana@stat.example.kz", "weekly")
    # A message that could not be sent (no SMTP server configured): dead after its tries.
    with db.transaction() as session:
        outbox.add(session, "email", "test", "dana@stat.example.kz", {"template": "alert.sos"})
    [row] = _rows(db)
    now = clock.now()
    settings = replace(migrated, smtp_url=None, outbox_max_attempts=1)
    assert outbox.deliver(db, settings, row.id, SENDERS, now) == "dead"
    listing = client.get("/outbox").get_data(as_text=True)
    assert "QONYS_SMTP_URL is not set" in listing
    client.post("/outbox", data={"csrf_token": _csrf(listing), "outbox_id": str(row.id)})
    assert _rows(db)[0].status == "pending"


def test_user_create_takes_an_email(migrated: Any, db: Any) -> None:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "user",
            "create",
            "--username",
            "erlan",
            "--role",
            "officer",
            "--email",
            "erlan@police.example.kz",
            "--language",
            "kk",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env={**os.environ, "DATABASE_URL": migrated.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "backend.cli", "user", "notify", "erlan", "--email", "nope"],
        env={**os.environ, "DATABASE_URL": migrated.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0 and "email" in bad.stderr
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT email, language FROM users WHERE username = 'erlan'")).one()
    assert tuple(row) == ("erlan@police.example.kz", "kk")


def test_mail_goes_over_starttls_when_offered(
    app: Any, client: Any, admin: Any, db: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this server only
    with smtp_starttls_server(str(cert), str(key)) as server:
        monkeypatch.setenv("QONYS_SMTP_URL", server.url)
        job_settings.cache_clear()
        person = f.person(client, admin)
        _user(db, "duty", "officer", region_kato=f.ASTANA_KATO, email="duty@police.example.kz")
        _open(db, person["id"], "sos", f.ASTANA_KATO)
        h.run_jobs(app)
        job_settings.cache_clear()
    assert [m["To"] for m in server.messages] == ["duty@police.example.kz"]
    assert server.mailbox.logins == ["clerk"]  # AUTH, which this server takes over TLS only
