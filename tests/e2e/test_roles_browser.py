"""Each role's main task end to end in Chromium with the network cut, in Russian and
Kazakh: the analyst from an SOS alert to the person's card and its resolution, the
employer's notice refused beside its field then filed, the administrator's revocation
with confirmation, and two analysts' monitoring maps kept apart. Each test saves
screenshots in ``artifacts/`` and fails on any page error, console error or request
leaving the machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import text

from backend import clock
from backend.services.access import accounts
from backend.services.tracking import alert_store
from tests import factories as f
from tests import helpers as h
from tests.e2e.offline import ARTIFACTS, CHROMIUM
from tests.integration.test_monitoring import _world

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]
PASSWORD = "correct horse battery"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class Seen:
    """What the pages did that they must not: reach outside, throw, log an error."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []

    def clean(self) -> None:
        assert self.outside == [] and self.errors == [], (self.outside, self.errors)


@pytest.fixture
def chromium() -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def _page(chromium: Any, server: str, seen: Seen, **context: Any) -> Page:
    page: Page = chromium.new_context(
        viewport=context.pop("viewport", {"width": 1280, "height": 900}),
        locale=context.pop("locale", "ru-RU"),
        **context,
    ).new_page()

    def cut(route: Any) -> None:
        url = route.request.url
        if url.startswith(server) or url.startswith("data:"):
            route.continue_()
        else:
            seen.outside.append(url)
            route.abort()

    page.route("**/*", cut)
    page.on("pageerror", lambda e: seen.errors.append(f"page: {e}"))
    page.on("console", lambda m: m.type == "error" and seen.errors.append(f"console: {m.text}"))
    return page


def _account(db: Any, username: str, role: str, **scope: Any) -> None:
    with db.transaction() as session:
        accounts.create_user(session, username, role, PASSWORD, **scope)
        session.execute(
            text("UPDATE users SET totp_secret = :s, totp_confirmed = true WHERE username = :u"),
            {"s": SECRET, "u": username},
        )


def _sign_in(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/login/totp*")
    page.fill("input[name=code]", pyotp.TOTP(SECRET).now())
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_analyst_goes_from_an_sos_alert_to_the_card_and_resolves_it(
    client: Any, admin: Any, db: Any, server: str, chromium: Any
) -> None:
    quiet = f.person(client, admin, surname="Тихонов")
    caller = f.person(client, admin, surname="Сапарова", given_name="Айгүл")
    f.registration(client, admin, caller["id"])
    with db.transaction() as session:
        alert_store.open_alert(session, quiet["id"], "silent_device", "710000000", {})
        alert_store.open_alert(session, caller["id"], "sos", "710000000", {})
    _account(db, "aset", "analyst")
    seen = Seen()
    page = _page(chromium, server, seen)
    _sign_in(page, server, "aset")
    page.goto(f"{server}/?lang=ru")
    # The alerts name people: the case comes first, and is kept for the session.
    page.fill("#purpose input[name=purpose]", "дело 2026/7")
    page.click("#purpose button[type=submit]")
    first = page.locator("#alerts tbody tr").first
    assert "sos" in (first.get_attribute("class") or "") and first.locator("svg").count() == 1
    assert "SOS" in first.inner_text() and "назад" in first.inner_text()
    assert page.locator("nav.pages a[href='/dashboard?lang=ru']").count() == 1
    _shot(page, "analyst-alerts-ru.png")
    first.locator("a").first.click()
    page.wait_for_url(f"**/people/{caller['id']}*")
    expect(page.locator("h1")).to_have_text("Сапарова Айгүл")
    card = page.locator(".alert-item.sos")
    card.locator("button[type=submit]").click()  # no reason: refused beside the field
    expect(page.locator(".alert-item.sos .field-error")).to_be_visible()
    page.locator(".alert-item.sos textarea[name=reason]").fill("Перезвонили, помощь не нужна")
    _shot(page, "analyst-card-ru.png")
    page.locator(".alert-item.sos button[type=submit]").click()
    expect(page.locator(".done")).to_contain_text("Оповещение закрыто")
    assert page.locator(".alert-item.sos").get_attribute("data-status") == "closed"
    _shot(page, "analyst-resolved-ru.png")
    # Back on the alerts, a new SOS appears without a reload (the table polls).
    page.goto(f"{server}/?lang=kk")
    assert page.locator("#alerts tr.sos").count() == 0
    with db.transaction() as session:
        alert_store.open_alert(session, quiet["id"], "sos", "710000000", {})
    page.evaluate("document.getElementById('alerts').dispatchEvent(new Event('qonys:refresh'))")
    expect(page.locator("#alerts tr.sos")).to_have_count(1)
    assert "бұрын" in page.locator("#alerts tr.sos").inner_text()
    _shot(page, "analyst-alerts-kk.png")
    page.locator("#alerts tr.sos a").first.click()
    expect(page.locator("h1")).to_have_text("Тихонов Шерзод")
    _shot(page, "analyst-card-kk.png")
    seen.clean()


def test_employer_sees_an_error_beside_its_field_then_files_the_notice(
    client: Any, admin: Any, db: Any, server: str, chromium: Any
) -> None:
    bin_ = f.employer(client, admin, "ТОО Жол")
    holder = f.person(client, admin, surname="Алиев")
    permit = f.permit(client, admin, holder["id"], employer_bin=bin_)
    _account(db, "gulnar", "employer", employer_bin=bin_)
    seen = Seen()
    page = _page(chromium, server, seen, viewport={"width": 1100, "height": 900})
    _sign_in(page, server, "gulnar")
    today = clock.today()
    for lang, words in (("kk", "Болашақта болуы мүмкін емес."), ("ru", "Не может быть в будущем.")):
        page.goto(f"{server}/employer?lang={lang}")
        page.select_option("select[name=permit_id]", str(permit["id"]))
        page.fill("input[name=last_working_day]", (today + timedelta(days=5)).isoformat())
        page.fill("textarea[name=reason]", "Уволился по собственному желанию")
        page.click("#notice button[type=submit]")
        beside = page.locator("label:has(input[name=last_working_day]) .field-error")
        expect(beside).to_have_text(words)
        assert page.locator("input[name=last_working_day]").get_attribute("aria-invalid") == "true"
        assert page.locator("select[name=permit_id]").input_value() == str(permit["id"])
        assert "Уволился" in page.locator("textarea[name=reason]").input_value()
        _shot(page, f"employer-error-{lang}.png")
    page.fill("input[name=last_working_day]", (today - timedelta(days=2)).isoformat())
    page.click("#notice button[type=submit]")
    expect(page.locator("[role=status]")).to_contain_text("Подано в срок")
    assert page.locator(".field-error").count() == 0
    _shot(page, "employer-filed-ru.png")
    seen.clean()


def test_admin_revokes_a_token_after_confirming(
    client: Any, db: Any, token: Any, server: str, chromium: Any
) -> None:
    victim = token("officer", label="планшет инспектора")
    _account(db, "sergey", "admin")
    with db.engine.connect() as conn:
        token_id = conn.execute(text("SELECT max(id) FROM api_tokens")).scalar_one()
    seen = Seen()
    page = _page(chromium, server, seen)
    _sign_in(page, server, "sergey")
    page.goto(f"{server}/admin?lang=kk")
    row = page.locator(f"#tokens tr[data-token='{token_id}']")
    assert "далалық инспектор" in row.inner_text() or "инспектор" in row.inner_text()
    _shot(page, "admin-kk.png")
    page.goto(f"{server}/admin?lang=ru")
    page.locator(f"#tokens tr[data-token='{token_id}'] button").click()
    expect(page.locator("#confirm")).to_contain_text(f"Отозвать токен № {token_id}")
    assert client.get("/api/v1/alerts", headers=victim).status_code == 200  # not yet
    _shot(page, "admin-confirm-ru.png")
    page.locator("#confirm button.danger").click()
    expect(page.locator("#result")).to_contain_text(f"Токен № {token_id} отозван")
    assert page.locator(f"#tokens tr[data-token='{token_id}']").get_attribute("data-state") == (
        "revoked"
    )
    _shot(page, "admin-revoked-ru.png")
    assert client.get("/api/v1/alerts", headers=victim).status_code == 401
    seen.clean()


def test_a_monitoring_map_built_by_one_analyst_does_not_change_anothers(
    client: Any, admin: Any, db: Any, token: Any, app: Any, server: str, chromium: Any
) -> None:
    _world(client, admin, db)
    _account(db, "aru", "analyst")
    _account(db, "bek", "analyst")
    seen = Seen()
    aru, bek = _page(chromium, server, seen), _page(chromium, server, seen)
    _sign_in(aru, server, "aru")
    _sign_in(bek, server, "bek")
    national = client.post("/api/v1/maps/monitoring", json={}, headers=token("analyst"))
    assert national.status_code == 202
    h.run_jobs(app)
    aru.goto(f"{server}/maps/monitoring?lang=ru")
    aru.wait_for_selector("path.leaflet-interactive")
    # Bek builds an Almaty-only map from the page's own form.
    bek.goto(f"{server}/maps/monitoring?lang=kk")
    bek.wait_for_selector("path.leaflet-interactive")
    bek.select_option("select[name=region_kato]", "750000000")
    bek.click("#qonys-filters button[type=submit]")
    bek.wait_for_timeout(300)
    h.run_jobs(app)
    bek.wait_for_url("**/maps/monitoring?*region_kato=750000000*")
    bek.wait_for_selector("path.leaflet-interactive")
    expect(bek.locator("#qonys-map-banner")).to_contain_text("Алматы")
    bek.screenshot(path=str(ARTIFACTS / "monitoring-own-kk.png"))
    # Aru's "monitoring map" is still the national one; Bek's own stays his.
    aru.goto(f"{server}/maps/monitoring?lang=ru")
    aru.wait_for_selector("path.leaflet-interactive")
    assert aru.evaluate("QONYS.filters.region_kato") is None
    expect(aru.locator("#qonys-map-banner")).to_contain_text("Построена")
    aru.screenshot(path=str(ARTIFACTS / "monitoring-own-ru.png"))
    bek.goto(f"{server}/maps/monitoring?lang=kk")
    bek.wait_for_selector("path.leaflet-interactive")
    assert bek.evaluate("QONYS.filters.region_kato") == "750000000"
    seen.clean()
