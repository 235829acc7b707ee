"""Web Push on the officer's installed page, in Debian's Chromium.

The browser's own registration with a push service needs Google's servers, which a
machine without a network cannot reach: that one call, ``PushManager.subscribe``, answers
with a subscription whose endpoint is a REAL local receiver and whose keys the test holds
(as a browser would). Everything else is real: the page asks for the key, posts the
subscription with its CSRF token, an SOS goes out through the outbox job encrypted to
those keys, the test decrypts it, and hands it to the service worker as a push service
would (DevTools' ``ServiceWorker.deliverPushMessage``), which shows the notification.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from backend.app import create_app
from backend.models import PushSubscription
from backend.services.access import accounts
from backend.services.tracking import alert_store
from backend.settings import PROJECT_ROOT, Settings
from tests import factories as f
from tests import helpers as h
from tests.integration.test_push import Browser
from tests.receivers import http_receiver

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(shutil.which("chromium") or "/usr/bin/chromium").exists(),
        reason="Debian chromium is not installed",
    ),
]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "artifacts"
PASSWORD = "correct horse battery"

# The one stand-in: the subscription a push service would give PushManager.subscribe
# (and getSubscription, afterwards).
_SUBSCRIBE = """([endpoint, keys]) => {
  var held = null;
  PushManager.prototype.subscribe = function (options) {
    window.subscribedWith = options.applicationServerKey.byteLength;
    held = {
      endpoint: endpoint,
      toJSON: function () { return { endpoint: endpoint, expirationTime: null, keys: keys }; },
      unsubscribe: function () { held = null; return Promise.resolve(true); }
    };
    return Promise.resolve(held);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(held); };
}"""


def registrations_seen(into: list[dict[str, Any]]) -> Any:
    return lambda event: into.extend(event["registrations"])


@pytest.fixture
def push_app(migrated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("QONYS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QONYS_PUSH_ALLOW_HTTP", "true")
    from backend.jobs.base import job_settings  # noqa: PLC0415

    job_settings.cache_clear()
    application = create_app(replace(migrated, data_dir=tmp_path, push_allow_http=True))
    yield application
    application.extensions["qonys.db"].dispose()
    job_settings.cache_clear()


def test_the_officer_allows_alerts_and_an_sos_shows_as_a_notification(
    push_app: Any, token: Any
) -> None:
    client, db = push_app.test_client(), push_app.extensions["qonys.db"]
    admin = {**token("admin"), "X-Purpose": "tests"}
    person = f.person(client, admin)
    with db.transaction() as session:
        accounts.create_user(session, "aset", "officer", PASSWORD, region_kato=f.ASTANA_KATO)
    ARTIFACTS.mkdir(exist_ok=True)
    browser_keys = Browser()
    errors: list[str] = []
    with http_receiver(status=201) as service:
        for server in h.serve(push_app):
            with sync_playwright() as p:
                chromium = p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                context = chromium.new_context(viewport={"width": 390, "height": 844})
                context.grant_permissions(["notifications"], origin=server)
                page = context.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{server}/login")
                page.fill("input[name=username]", "aset")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{server}/officer")
                page.evaluate("navigator.serviceWorker.ready.then(() => true)")
                page.wait_for_selector("#push:not([hidden]) #push-on:not([hidden])")
                page.evaluate(_SUBSCRIBE, [service.url, browser_keys.keys()])
                page.click("#push-on")
                page.wait_for_selector("#push-off:not([hidden])")
                assert page.evaluate("window.subscribedWith") == 65  # the served VAPID key
                page.screenshot(path=str(ARTIFACTS / "officer-push-on.png"), full_page=True)
                with db.transaction() as session:
                    kept = session.scalars(select(PushSubscription)).one()
                    assert kept.endpoint == service.url

                with db.transaction() as session:
                    alert_store.open_alert(session, person["id"], "sos", f.ASTANA_KATO, {})
                h.run_jobs(push_app)
                [request] = service.requests
                payload = browser_keys.decrypt(request.body)

                cdp = context.new_cdp_session(page)
                registrations: list[dict[str, Any]] = []
                cdp.on("ServiceWorker.workerRegistrationUpdated", registrations_seen(registrations))
                cdp.send("ServiceWorker.enable")
                for _ in range(150):  # events arrive while Playwright waits, not sleeps
                    if any(not r["isDeleted"] for r in registrations):
                        break
                    page.wait_for_timeout(200)
                registration = next(r for r in registrations if not r["isDeleted"])
                cdp.send(
                    "ServiceWorker.deliverPushMessage",
                    {
                        "origin": server,
                        "registrationId": registration["registrationId"],
                        "data": json.dumps(payload),
                    },
                )
                shown = "navigator.serviceWorker.ready.then(r => r.getNotifications())"
                notes: list[dict[str, str]] = []
                for _ in range(150):  # as long as for the registration: a loaded machine
                    notes = page.evaluate(
                        f"{shown}.then(ns => ns.map(n => ({{title: n.title, body: n.body}})))"
                    )
                    if notes:
                        break
                    page.wait_for_timeout(200)
                assert notes == [
                    {
                        "title": "SOS в вашем регионе",
                        "body": f"{payload['region']} — {payload['body']}",
                    }
                ]

                page.click("#push-off")
                page.wait_for_selector("#push-on:not([hidden])")
                with db.transaction() as session:
                    assert session.scalars(select(PushSubscription)).all() == []
                chromium.close()
    assert errors == []
