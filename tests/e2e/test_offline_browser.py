"""The officer's page without a network, and /verify, in Debian's Chromium.

A 390×844 phone with geolocation in Almaty: the page loads, the network goes, it reloads
from its service worker, verifies permit QR codes from images (valid, expired,
terminated, revoked, outside the region, tampered), queues a typed check in the outbox,
comes back online, syncs, and shows the server's verdict beside the offline one. The
offline verdicts are compared with the server's check of the same person. Screenshots go
to ``artifacts/``; any page error, or console error other than the cut network's, fails.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from sqlalchemy import text

from backend.app import create_app
from backend.services.access import accounts
from backend.services.credentials import credentials, status_lists
from backend.settings import PROJECT_ROOT, Settings
from tests import factories as f
from tests import helpers as h

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
ALMATY = {"latitude": 43.2567, "longitude": 76.9286}
# What the cut network itself prints in the console: expected, not a page fault.
NETWORK_CUT = ("ERR_INTERNET_DISCONNECTED", "ERR_FAILED", "Failed to fetch")
# The offline verdict and the server check's reason for the same permit.
SERVER_REASON = {
    "revoked": "permit_revoked",
    "terminated": "permit_terminated",
    "expired": "permit_expired",
    "outside_region": "outside_permit_region",
}


@pytest.fixture
def offline_app(migrated: Settings, tmp_path: Path) -> Iterator[Any]:
    application = create_app(replace(migrated, credential_keys_dir=tmp_path / "keys"))
    yield application
    application.extensions["qonys.db"].dispose()


def _documents(client: Any, admin: dict[str, str], db: Any, token: Any) -> dict[str, Any]:
    """One permit holder per case, each registered in Almaty where the officer stands."""
    today = date.today()
    cases: dict[str, dict[str, Any]] = {}
    for case in ("valid", "expired", "terminated", "revoked", "outside_region", "tampered"):
        person = f.person(client, admin, surname=f"Тест{case[:4]}")
        f.registration(client, admin, person["id"], location=f.ALMATY)
        region = f.ASTANA_KATO if case == "outside_region" else f.ALMATY_KATO
        bin_ = f.employer(client, admin) if case == "terminated" else None
        permit = f.permit(client, admin, person["id"], region_kato=region, employer_bin=bin_)
        cases[case] = {"person": person, "permit": permit}
    with db.transaction() as session:  # a permit whose last day has passed
        session.execute(
            text("UPDATE permits SET valid_from = :a, valid_to = :b WHERE id = :id"),
            {
                "a": today - timedelta(days=200),
                "b": today - timedelta(days=10),
                "id": cases["expired"]["permit"]["id"],
            },
        )
    revoked = cases["revoked"]["permit"]["id"]
    client.post(f"/api/v1/permits/{revoked}/revocation", json={"reason": "подлог"}, headers=admin)
    ended = cases["terminated"]["permit"]
    resp = client.post(
        f"/api/v1/employers/{ended['employer_bin']}/termination-notices",
        json={"permit_id": ended["id"], "last_working_day": ended["valid_from"], "reason": "Ушёл"},
        headers=token("employer", employer_bin=ended["employer_bin"]),
    )
    assert resp.status_code == 201, resp.get_json()
    return cases


def _qr_files(client: Any, admin: dict[str, str], cases: dict[str, Any], folder: Path) -> None:
    for case, item in cases.items():
        url = f"/api/v1/permits/{item['permit']['id']}/credential"
        payload = client.get(url, headers=admin).get_json()["payload"]
        if case == "tampered":  # one changed byte of the signed text: a later date
            head, body, sig = payload.split(".")
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            body = base64.urlsafe_b64encode(raw.replace(b'"until":"20', b'"until":"21')).decode()
            payload = ".".join((head, body.rstrip("="), sig))
        item["payload"] = payload
        item["qr"] = folder / f"{case}.png"
        item["qr"].write_bytes(credentials.qr_png(payload))


def _phone(browser: Any, errors: list[str]) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        geolocation=ALMATY,
        permissions=["geolocation"],
    )
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(f"error: {e}"))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not any(cut in m.text for cut in NETWORK_CUT)
            else None
        ),
    )
    return context, page


# Every label's box is clear of every value's box, and each date sits on one line.
_NO_OVERLAP = """() => {
  const boxes = el => [...document.querySelectorAll(el)].map(e => e.getBoundingClientRect());
  const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const dts = boxes('dl.fields dt'), dds = boxes('dl.fields dd');
  const dates = [...document.querySelectorAll('dl.fields .nowrap')];
  return dts.every(a => dds.every(b => !hit(a, b)))
    && dates.every(d => d.getClientRects().length === 1);
}"""


def _verdict_of(page: Page, qr: Path) -> str:
    page.evaluate("document.getElementById('result').removeAttribute('data-verdict')")
    page.set_input_files("#qr-file", str(qr))
    page.wait_for_selector("#result[data-verdict]")
    return str(page.get_attribute("#result", "data-verdict"))


def test_officer_page_offline_verdicts_outbox_and_sync(
    offline_app: Any, migrated: Settings, token: Any, tmp_path: Path
) -> None:
    client, db = offline_app.test_client(), offline_app.extensions["qonys.db"]
    admin = token("admin")
    cases = _documents(client, admin, db, token)
    _qr_files(client, admin, cases, tmp_path)
    with db.transaction() as session:
        status_lists.publish(session, offline_app.extensions["qonys.settings"])
        accounts.create_user(session, "zhanar", "officer", PASSWORD, region_kato=f.ALMATY_KATO)
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    for server in h.serve(offline_app):
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context, page = _phone(browser, errors)
            page.goto(f"{server}/login")
            page.fill("input[name=username]", "zhanar")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server}/officer")
            page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            expect(page.locator("#net-age")).not_to_have_text("")
            page.screenshot(path=str(ARTIFACTS / "officer-pwa-online.png"), full_page=True)

            context.set_offline(True)
            page.reload()  # from the service worker's cache
            expect(page.locator("#net-state")).not_to_have_text("")
            assert "offline" in (page.get_attribute("#netbar", "class") or "")
            offline = {case: _verdict_of(page, item["qr"]) for case, item in cases.items()}
            assert offline == {
                "valid": "valid",
                "expired": "expired",
                "terminated": "terminated",
                "revoked": "revoked",
                "outside_region": "outside_region",
                "tampered": "invalid",
            }
            page.set_input_files("#qr-file", str(cases["valid"]["qr"]))
            page.wait_for_selector("#result[data-verdict=valid]")
            page.screenshot(path=str(ARTIFACTS / "officer-pwa-offline-qr.png"), full_page=True)

            typed = cases["valid"]["person"]["iin"]
            page.fill("input[name=who]", typed)
            page.click("#check button[type=submit]")
            page.wait_for_selector("#queued:not([hidden])")
            assert page.input_value("input[name=who]") == typed  # the number is kept
            queued = page.evaluate("QonysOutbox.waiting().then(items => items.length)")
            assert queued == 7  # six QR verdicts with claims (the valid one twice), one typed
            page.screenshot(path=str(ARTIFACTS / "officer-pwa-outbox.png"), full_page=True)

            context.set_offline(False)
            page.evaluate("window.dispatchEvent(new Event('online'))")
            h.wait_for(lambda p=page: p.evaluate("QonysOutbox.waiting().then(w => w.length)") == 0)
            expect(page.locator("#outbox-list li.synced")).to_have_count(7)
            page.screenshot(path=str(ARTIFACTS / "officer-pwa-synced.png"), full_page=True)
            synced = page.evaluate("QonysOutbox.synced()")

            # A repeated sync of one item runs nothing: the first answer, marked duplicate.
            again = page.evaluate(
                """item => fetch('/api/v1/checks/outbox', {method: 'POST',
                    headers: {'Content-Type': 'application/json', 'X-CSRFToken':
                      document.querySelector('#check input[name=csrf_token]').value},
                    body: JSON.stringify({key: item.key, kind: item.kind, who: item.who,
                      doc_kind: item.doc_kind, device_time: item.device_time,
                      lat: item.lat, lon: item.lon})}).then(r => r.json())""",
                synced[0],
            )
            assert (
                again["duplicate"] is True and again["check_id"] == synced[0]["server"]["check_id"]
            )

            # Online, the card: citizenship and document, nothing wider than the phone.
            page.fill("input[name=who]", typed)
            page.click("#check button[type=submit]")
            page.wait_for_selector(".verdict.ok")
            card = page.inner_text("dl.fields")
            assert "Узбекистан" in card and cases["valid"]["person"]["document"]["number"] in card
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert page.evaluate(_NO_OVERLAP), "a label overlaps its value"
            page.screenshot(path=str(ARTIFACTS / "officer-pwa-card.png"), full_page=True)
            page.click("#new-check")
            assert page.input_value("input[name=who]") == ""
            assert page.locator("#last-result").is_hidden()
            page.click("text=Қазақша")  # the same page in Kazakh, the outbox in its words
            page.wait_for_selector("#outbox-list li.synced")
            assert "Байланыссыз жасалған тексерулер" in page.inner_text("#outbox")
            page.screenshot(path=str(ARTIFACTS / "officer-pwa-kk.png"), full_page=True)
            browser.close()
    assert errors == [], errors

    # The server's verdict beside each offline one: the same, case by case.
    by_number = {item["who"]: item for item in synced}
    for case, item in cases.items():
        if case == "tampered":
            continue  # refused on the phone: nothing to send
        server = by_number[item["permit"]["number"]]["server"]
        assert by_number[item["permit"]["number"]]["offline_verdict"] == offline[case]
        if case == "valid":
            assert server["verdict"] == "ok", server
        else:
            assert SERVER_REASON[case] in server["reasons"], (case, server)
    typed_check = by_number[typed]["server"]
    assert typed_check["verdict"] == "ok" and typed_check["duplicate"] is False
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT count(*), count(device_checked_at), count(DISTINCT client_key),"
                " bool_and(device_checked_at <= checked_at) FROM officer_checks"
                " WHERE client_key IS NOT NULL"
            )
        ).one()
        audited = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'person.check'"
                " AND client_request_id LIKE 'outbox:%'"
            )
        ).scalar_one()
    assert tuple(rows) == (7, 7, 7, True)  # queued 7, synced 7, the duplicate ran nothing
    assert audited == 7


def test_verify_page_reads_a_qr_offline(offline_app: Any, token: Any, tmp_path: Path) -> None:
    client, db = offline_app.test_client(), offline_app.extensions["qonys.db"]
    admin = token("admin")
    person = f.person(client, admin)
    permit = f.permit(client, admin, person["id"])
    payload = client.get(f"/api/v1/permits/{permit['id']}/credential", headers=admin).get_json()[
        "payload"
    ]
    qr = tmp_path / "permit.png"
    qr.write_bytes(credentials.qr_png(payload))
    errors: list[str] = []
    for server in h.serve(offline_app):
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context, page = _phone(browser, errors)
            page.goto(f"{server}/verify")  # no sign-in
            page.evaluate("navigator.serviceWorker.ready.then(() => true)")
            expect(page.locator("#freshness")).not_to_have_text("")
            context.set_offline(True)
            page.reload()
            page.set_input_files("#qr-file", str(qr))
            page.wait_for_selector("#result[data-verdict=valid]")
            shown = page.inner_text("#result")
            assert permit["number"] in shown and "Каримов" in shown
            assert "не загружен" not in shown  # the status list was read, from the cache
            page.screenshot(path=str(ARTIFACTS / "verify-offline.png"), full_page=True)
            browser.close()
    assert errors == [], errors
    with db.engine.connect() as conn:
        asked = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action LIKE 'status%'")
        ).scalar_one()
    assert asked == 0  # status lookups are counted, never recorded against anyone
