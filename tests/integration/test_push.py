"""Web Push to the officer's installed page, through a REAL local HTTP receiver acting as
the push service: the test is the browser (its own P-256 key pair and auth secret), it
decrypts what arrives with ``http_ece`` (aes128gcm, RFC 8291) and checks the VAPID JWT
(RFC 8292) against the public key the server serves to the page."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import time
from dataclasses import replace
from typing import Any

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select, text

from backend.jobs.base import job_settings
from backend.models import OutboxMessage, PushSubscription
from backend.services.access import accounts
from backend.services.notify import outbox, push
from backend.services.notify.channels import SENDERS
from backend.services.tracking import alert_store
from tests import factories as f
from tests import helpers as h
from tests.receivers import http_receiver

PASSWORD = "correct-horse-battery"
TITLE_KK = "Сіздің өңіріңізде SOS"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class Browser:
    """A subscriber key pair and auth secret, as a browser's PushManager makes them."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def keys(self) -> dict[str, str]:
        raw = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(raw), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        decoded: dict[str, Any] = json.loads(plain)
        return decoded


@pytest.fixture
def pushing(app: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The VAPID key in a folder of the test's own; plain-http endpoints on 127.0.0.1
    allowed (the local receiver), for the app and for the jobs alike."""
    monkeypatch.setitem(
        app.extensions,
        "qonys.settings",
        replace(app.extensions["qonys.settings"], data_dir=tmp_path, push_allow_http=True),
    )
    monkeypatch.setenv("QONYS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QONYS_PUSH_ALLOW_HTTP", "true")
    monkeypatch.setenv("QONYS_MAIL_FROM", "duty@migration.example.kz")
    job_settings.cache_clear()
    yield tmp_path
    job_settings.cache_clear()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found
    return found.group(1)


def _officer(db: Any, client: Any, name: str, **extra: Any) -> str:
    """A signed-in officer's browser session; the CSRF token for its API calls."""
    delivery = extra.pop("alert_delivery", None)
    with db.transaction() as session:
        accounts.create_user(session, name, "officer", PASSWORD, **extra)
        if delivery:
            accounts.set_notifications(session, name, alert_delivery=delivery)
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"csrf_token": _csrf(page), "username": name, "password": PASSWORD})
    return _csrf(client.get("/officer").get_data(as_text=True))


def _subscribe(client: Any, csrf: str, endpoint: str, browser: Browser) -> Any:
    return client.post(
        "/api/v1/push-subscriptions",
        json={"endpoint": endpoint, "keys": browser.keys(), "expirationTime": None},
        headers={"X-CSRFToken": csrf},
    )


def _verify_vapid(authorization: str, served_key: str, endpoint: str) -> dict[str, Any]:
    found = re.fullmatch(r"vapid t=([^,]+),\s*k=(\S+)", authorization)
    assert found, authorization
    token, key = found.groups()
    assert key == served_key  # signed by the key the page subscribed with
    head, claims, signature = token.split(".")
    assert json.loads(unb64url(head)) == {"typ": "JWT", "alg": "ES256"}
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    raw = unb64url(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):  # the check does check
        public.verify(der, f"{head}.{claims}x".encode(), ec.ECDSA(hashes.SHA256()))
    decoded: dict[str, Any] = json.loads(unb64url(claims))
    assert decoded["aud"] == endpoint.rsplit("/", 1)[0]  # the push service's origin
    assert time.time() < decoded["exp"] <= time.time() + 24 * 3600
    return decoded


def test_an_sos_reaches_the_officers_installed_page_by_web_push(
    app: Any, client: Any, admin: Any, db: Any, pushing: Any
) -> None:
    person = f.person(client, admin)
    csrf = _officer(db, client, "duty", region_kato=f.ASTANA_KATO, language="kk")
    served = client.get("/api/v1/push-subscriptions/key")
    assert served.status_code == 200
    public_key = served.get_json()["public_key"]
    # Generated into the data folder on first use, readable by the owner only.
    key_file = pushing / push.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(unb64url(public_key)) == 65 and unb64url(public_key)[0] == 4
    browser = Browser()
    with http_receiver(status=201) as service:
        resp = _subscribe(client, csrf, service.url, browser)
        assert resp.status_code == 201, resp.get_json()
        with db.engine.connect() as conn:
            audited = conn.execute(
                text("SELECT actor FROM audit_log WHERE action = 'push.subscribe'")
            ).scalar()
        assert audited == "user:duty"
        with db.transaction() as session:
            alert_store.open_alert(
                session, person["id"], "sos", f.ASTANA_KATO, {"lat": 51.16, "lon": 71.47}
            )
        h.run_jobs(app)  # the outbox's drain job, as a worker runs it
        [request] = service.requests
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["urgency"] == "high" and int(request.headers["ttl"]) > 0
    claims = _verify_vapid(request.headers["authorization"], public_key, service.url)
    assert claims["sub"] == "mailto:duty@migration.example.kz"
    payload = browser.decrypt(request.body)
    with db.engine.connect() as conn:
        region = conn.execute(
            text("SELECT name_kk FROM regions WHERE kato = :k"), {"k": f.ASTANA_KATO}
        ).scalar()
    assert payload["kind"] == "sos" and payload["region"] == region
    assert payload["url"] == "http://127.0.0.1:8000/"
    assert payload["title"] == TITLE_KK  # in the officer's language
    # The minimum: no person, no place, no IIN.
    assert set(payload) == {"kind", "region", "title", "body", "url", "tag"}
    flat = json.dumps(payload, ensure_ascii=False)
    assert "51.16" not in flat and "71.47" not in flat and person["iin"] not in flat
    with db.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "push")).all()
        assert [r.status for r in rows] == ["delivered"]


def test_a_gone_subscription_is_forgotten(
    app: Any, client: Any, admin: Any, db: Any, pushing: Any
) -> None:
    person = f.person(client, admin)
    csrf = _officer(db, client, "gone", region_kato=f.ASTANA_KATO)
    browser = Browser()
    with http_receiver(status=410) as service:
        assert _subscribe(client, csrf, service.url, browser).status_code == 201
        with db.transaction() as session:
            alert_store.open_alert(session, person["id"], "sos", f.ASTANA_KATO, {})
        h.run_jobs(app)
        assert len(service.requests) == 1  # not retried: the browser unsubscribed
    with db.transaction() as session:
        assert session.scalars(select(PushSubscription)).all() == []
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "push"))
        assert row.status == "cancelled" and "410" in (row.last_error or "")


def test_other_alerts_follow_the_officers_choice_and_a_failure_is_retried(
    app: Any, client: Any, admin: Any, db: Any, pushing: Any
) -> None:
    person = f.person(client, admin)
    csrf = _officer(db, client, "never", region_kato=f.ASTANA_KATO, alert_delivery="never")
    with http_receiver(status=500) as service:
        assert _subscribe(client, csrf, service.url, Browser()).status_code == 201
        with db.transaction() as session:
            alert_store.open_alert(session, person["id"], "silent_device", f.ASTANA_KATO, {})
            alert_store.open_alert(session, person["id"], "sos", f.ASTANA_KATO, {})
        h.run_jobs(app)
    with db.transaction() as session:
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "push"))
        # Only the SOS (the officer chose "never" for the rest); a 500 waits its backoff.
        assert row.payload["params"]["kind"] == "sos"
        assert row.status == "pending" and row.attempts == 1 and "500" in (row.last_error or "")
        assert session.scalars(select(PushSubscription)).one()  # kept


def test_subscriptions_are_validated_owned_and_withdrawn(
    app: Any, client: Any, admin: Any, db: Any, pushing: Any
) -> None:
    csrf = _officer(db, client, "kamila", region_kato=f.ASTANA_KATO)
    good = Browser().keys()
    endpoint = "https://push.example.net/wpush/v2/abc"
    cases = [
        ({"endpoint": "ftp://push.example.net/x", "keys": good}, "endpoint"),
        ({"endpoint": "http://push.example.net/x", "keys": good}, "endpoint"),
        ({"endpoint": endpoint, "keys": {**good, "p256dh": "A" * 87}}, "keys.p256dh"),
        ({"endpoint": endpoint, "keys": {**good, "auth": "!" * 22}}, "keys.auth"),
        ({"endpoint": endpoint}, "keys"),
        ({"endpoint": endpoint, "keys": "p256dh"}, "keys"),
        ({"endpoint": "https://[::1/x", "keys": good}, "endpoint"),
        (
            {"endpoint": "http://127.0.0.1:1/x", "keys": good, "expirationTime": "soon"},
            "expirationTime",
        ),
    ]
    for body, field in cases:
        resp = client.post("/api/v1/push-subscriptions", json=body, headers={"X-CSRFToken": csrf})
        assert resp.status_code == 422, (body, resp.get_json())
        assert resp.mimetype == "application/problem+json"
        named = [e["field"] for e in resp.get_json()["errors"]]
        assert any(n == field or n.startswith(f"{field}.") for n in named), named
    # Without the CSRF token a session cannot subscribe; a token caller has no browser.
    assert (
        client.post(
            "/api/v1/push-subscriptions", json={"endpoint": endpoint, "keys": good}
        ).status_code
        == 400
    )
    officer_token = client.application.test_client().post(
        "/api/v1/push-subscriptions", json={"endpoint": endpoint, "keys": good}, headers=admin
    )
    assert officer_token.status_code == 403
    assert (
        client.post(
            "/api/v1/push-subscriptions",
            json={"endpoint": endpoint, "keys": good},
            headers={"X-CSRFToken": csrf},
        ).status_code
        == 201
    )
    gone = client.delete(
        "/api/v1/push-subscriptions", json={"endpoint": endpoint}, headers={"X-CSRFToken": csrf}
    )
    assert gone.status_code == 204
    again = client.delete(
        "/api/v1/push-subscriptions", json={"endpoint": endpoint}, headers={"X-CSRFToken": csrf}
    )
    assert again.status_code == 404


def test_an_hourly_officer_gets_one_push_digest(
    app: Any, client: Any, admin: Any, db: Any, pushing: Any
) -> None:
    person = f.person(client, admin)
    csrf = _officer(
        db, client, "hourly", region_kato=f.ASTANA_KATO, alert_delivery="hourly", language="en"
    )
    browser = Browser()
    with http_receiver(status=201) as service:
        assert _subscribe(client, csrf, service.url, browser).status_code == 201
        with db.transaction() as session:
            for kind in ("left_permit_region", "residence_mismatch"):
                alert_store.open_alert(session, person["id"], kind, f.ASTANA_KATO, {})
        h.run_jobs(app)
        assert service.requests == []  # waiting for the hour
        with db.transaction() as session:
            rows = session.scalars(
                select(OutboxMessage).where(OutboxMessage.channel == "push")
            ).all()
            next_hour, first = rows[0].next_attempt_at, rows[0].id
        assert len(rows) == 2
        assert outbox.deliver(db, job_settings(), first, SENDERS, next_hour) == "delivered"
        [request] = service.requests
    payload = browser.decrypt(request.body)
    assert payload["kind"] == "digest" and payload["title"] == "New alerts in your region: 2"
    assert "Outside the permit region" in payload["body"] and payload["region"]
    assert request.headers["urgency"] == "normal"
