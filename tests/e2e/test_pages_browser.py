"""People in browsers: sign-in with TOTP, the officer's phone page, the employer's page.

Debian's Chromium through Playwright, with every request that is not to this server
aborted (the pages must work with the network cut), every Content-Security-Policy
violation counted as a failure, and screenshots saved in ``artifacts/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from sqlalchemy import text

from backend import clock
from backend.app import create_app
from backend.services.access import accounts
from backend.settings import PROJECT_ROOT
from tests import factories as f
from tests import helpers as h
from tests.integration.test_maps import _world, build

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
ALMATY_KATO = "750000000"


@pytest.fixture
def browser() -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


class Watch:
    """What a page did that it must not: reach outside, break CSP, throw."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.problems: list[str] = []

    def clean(self) -> None:
        assert self.outside == [], self.outside
        assert self.problems == [], self.problems


def _page(browser: Any, server: str, watch: Watch, **context: Any) -> Page:
    ctx = browser.new_context(**context)
    page = ctx.new_page()

    def cut(route: Any) -> None:
        if route.request.url.startswith(server) or route.request.url.startswith("data:"):
            route.continue_()
        else:  # the network is cut: anything not ours fails
            watch.outside.append(route.request.url)
            route.abort()

    page.route("**/*", cut)
    page.on("pageerror", lambda e: watch.problems.append(f"error: {e}"))
    page.on(
        "console",
        lambda m: (
            watch.problems.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    return page


def _user(db: Any, username: str, role: str, **scope: Any) -> None:
    with db.transaction() as session:
        accounts.create_user(session, username, role, PASSWORD, **scope)


def _sign_in(page: Page, server: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _totp(page: Page, shot: str | None = None) -> None:
    """Enrol the second factor from the key the page shows as text, as a person would."""
    page.wait_for_selector("code.secret")
    assert page.locator("img.qr").is_visible()
    if shot:
        page.screenshot(path=str(ARTIFACTS / shot))
    secret = page.locator("code.secret").inner_text().strip()
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")


def test_analyst_signs_in_with_totp_and_the_map_opens(
    client: Any, app: Any, token: Any, db: Any, server: str, browser: Any
) -> None:
    _world(db)
    build(client, app, token("analyst"))
    _user(db, "aigerim", "analyst")
    watch = Watch()
    page = _page(browser, server, watch, viewport={"width": 1280, "height": 860})
    page.goto(f"{server}/maps/kandas-settlement")  # not signed in: to the sign-in page
    assert "/login" in page.url
    page.screenshot(path=str(ARTIFACTS / "login.png"))
    page.fill("input[name=username]", "aigerim")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    _totp(page, "totp-enrolment.png")
    # Back where the analyst was going: the map, drawn from local assets only.
    page.wait_for_selector("path.leaflet-interactive")
    assert page.locator("path.leaflet-interactive").count() >= 20
    page.screenshot(path=str(ARTIFACTS / "map-in-session.png"))
    page.goto(f"{server}/")
    assert page.locator("h1").inner_text() == "Мониторинг"
    page.screenshot(path=str(ARTIFACTS / "analyst-home.png"))
    watch.clean()


def test_repeated_wrong_passwords_lock_the_account(
    db: Any, server: str, browser: Any, migrated: Any
) -> None:
    _user(db, "bolat", "officer")
    watch = Watch()
    page = _page(browser, server, watch)
    for _ in range(migrated.login_max_failures):
        _sign_in(page, server, "bolat", "wrong password!!")
        assert "Вход отклонён" in page.locator(".error").inner_text()
    _sign_in(page, server, "bolat")  # the right password, too late from this address
    assert "/login" in page.url
    # One wording for every refusal: a lock tells nothing a wrong password does not.
    assert "Вход отклонён" in page.locator(".error").inner_text()
    page.screenshot(path=str(ARTIFACTS / "login-locked.png"))
    with db.engine.connect() as conn:
        failures = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'login.failed' AND actor = 'user:bolat'"
            )
        ).scalar_one()
        locked = conn.execute(
            text("SELECT max(blocked_until) FROM signin_throttle WHERE key LIKE 'acct:%'")
        ).scalar()
    assert failures >= migrated.login_max_failures and locked is not None
    watch.clean()


def test_a_form_without_its_csrf_token_is_refused(db: Any, server: str, browser: Any) -> None:
    _user(db, "dana", "officer")
    watch = Watch()
    page = _page(browser, server, watch)
    _sign_in(page, server, "dana")
    page.wait_for_url(f"{server}/officer")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.click("form.signout button")
    assert sent.value.status == 400
    assert "CSRF" in page.content()
    page.goto(f"{server}/officer")  # still signed in: the forged sign-out did nothing
    assert page.url.endswith("/officer")
    watch.clean()


def test_an_idle_session_expires(db: Any, browser: Any, migrated: Any) -> None:
    quick = create_app(replace(migrated, session_idle_minutes=0.05))  # three seconds
    _user(db, "erlan", "officer")
    for server in h.serve(quick):
        watch = Watch()
        page = _page(browser, server, watch)
        _sign_in(page, server, "erlan")
        page.wait_for_url(f"{server}/officer")
        page.wait_for_timeout(4000)
        page.goto(f"{server}/officer")
        assert "/login" in page.url
        watch.clean()
    quick.extensions["qonys.db"].dispose()


def test_officer_checks_on_a_phone_with_geolocation(
    client: Any, admin: Any, db: Any, server: str, browser: Any
) -> None:
    astana_worker = f.person(client, admin, surname="Каримов")
    f.registration(client, admin, astana_worker["id"])
    f.permit(client, admin, astana_worker["id"])  # valid in Astana only
    almaty_worker = f.person(client, admin, surname="Тошматов")
    f.registration(client, admin, almaty_worker["id"], location=f.ALMATY)
    f.permit(client, admin, almaty_worker["id"], region_kato=ALMATY_KATO)
    _user(db, "farida", "officer")
    watch = Watch()
    page = _page(
        browser,
        server,
        watch,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        geolocation=ALMATY,
        permissions=["geolocation"],
    )
    _sign_in(page, server, "farida")
    page.wait_for_url(f"{server}/officer")
    expect(page.locator("#check input.lat")).not_to_have_value("")
    # As a thumb types it on a phone: lower case, with spaces (issue 22/23).
    number = astana_worker["document"]["number"]
    page.fill("input[name=who]", f"{number[:2].lower()} {number[2:5]} {number[5:]}")
    page.click("#check button[type=submit]")
    verdict = page.locator(".verdict")
    assert "violation" in (verdict.get_attribute("class") or "")
    assert "Нарушение" in verdict.inner_text()
    assert "Работает вне региона разрешения" in verdict.inner_text()
    page.screenshot(path=str(ARTIFACTS / "officer-violation.png"), full_page=True)
    iin = almaty_worker["iin"]
    page.fill("input[name=who]", f" {iin[:6]} {iin[6:]} ")
    page.fill("#check input.lat", str(ALMATY["latitude"]))
    page.fill("#check input.lon", str(ALMATY["longitude"]))
    page.click("#check button[type=submit]")
    assert "Нарушений нет" in page.locator(".verdict.ok").inner_text()
    page.screenshot(path=str(ARTIFACTS / "officer-ok.png"), full_page=True)
    page.fill("#near input.lat", str(ALMATY["latitude"]))
    page.fill("#near input.lon", str(ALMATY["longitude"]))
    page.click("#near button[type=submit]")
    assert "Тошматов" in page.locator("table").inner_text()
    with db.engine.connect() as conn:
        checks = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'person.check' AND actor = 'user:farida'"
            )
        ).scalar_one()
    assert checks == 2
    watch.clean()


def test_employer_files_notices_on_time_and_late_and_sees_only_its_own(
    client: Any, admin: Any, db: Any, server: str, browser: Any
) -> None:
    bin_ = f.employer(client, admin, "ТОО Жол")
    other_bin = f.employer(client, admin, "ТОО Басқа")
    mine = []
    for surname in ("Алиев", "Бакиев"):
        holder = f.person(client, admin, surname=surname)
        mine.append(f.permit(client, admin, holder["id"], employer_bin=bin_))
    stranger = f.person(client, admin, surname="Чужой")
    theirs = f.permit(client, admin, stranger["id"], employer_bin=other_bin)
    _user(db, "gulnar", "employer", employer_bin=bin_)
    watch = Watch()
    page = _page(browser, server, watch, viewport={"width": 1100, "height": 900})
    _sign_in(page, server, "gulnar")
    page.wait_for_url(f"{server}/employer")
    table = page.locator("table").first.inner_text()
    assert "Алиев" in table and "Бакиев" in table and "Чужой" not in table
    today = clock.today()
    for permit, days_ago in ((mine[0], 2), (mine[1], 20)):
        page.select_option("select[name=permit_id]", str(permit["id"]))
        page.fill("input[name=last_working_day]", (today - timedelta(days=days_ago)).isoformat())
        page.fill("textarea[name=reason]", "Уволился по собственному желанию")
        page.click("#notice button[type=submit]")
        status = page.locator("[role=status]").inner_text()
        if days_ago == 2:
            assert "Подано в срок" in status
            page.screenshot(path=str(ARTIFACTS / "employer-notice-on-time.png"), full_page=True)
        else:
            assert "с опозданием" in status
            page.screenshot(path=str(ARTIFACTS / "employer-notice-late.png"), full_page=True)
    response = page.goto(f"{server}/employer/holders/{theirs['id']}")
    assert response is not None and response.status == 404
    response = page.goto(f"{server}/employer/holders/{mine[0]['id']}")
    assert response is not None and response.status == 200
    watch.clean()


def test_language_switch_and_sign_out(db: Any, server: str, browser: Any) -> None:
    _user(db, "hasan", "officer")
    watch = Watch()
    page = _page(browser, server, watch, viewport={"width": 390, "height": 844})
    _sign_in(page, server, "hasan")
    page.wait_for_url(f"{server}/officer")
    assert page.locator("h1").inner_text() == "Проверка лица"
    page.click("text=Қазақша")
    assert page.locator("h1").inner_text() == "Тұлғаны тексеру"
    page.screenshot(path=str(ARTIFACTS / "officer-kk.png"))
    page.click("text=English")
    assert page.locator("h1").inner_text() == "Check a person"
    page.click("form.signout button")
    page.wait_for_url(f"{server}/login")
    page.goto(f"{server}/officer")
    assert "/login" in page.url
    watch.clean()
