"""Who is who in a browser: the analyst's person card with a duplicate candidate (issue 22).

Debian's Chromium with the network cut (tests/e2e/test_pages_browser.py): an analyst
signs in with TOTP, opens a kandas's card under a case reference and reads, in Russian
and then in Kazakh, the names in both scripts and the likely duplicate (the same man
entered again from his passport's Latin), with what agrees, then follows the link to the
candidate's own card.
"""

from __future__ import annotations

from typing import Any

from tests import factories as f
from tests.e2e.test_pages_browser import (
    ARTIFACTS,
    Watch,
    _page,
    _sign_in,
    _totp,
    _user,
    browser,  # noqa: F401  # the fixture, used by name
    pytestmark,  # noqa: F401  # e2e, skipped without Debian chromium
)


def test_the_card_shows_a_duplicate_candidate_in_russian_and_kazakh(
    client: Any,
    admin: Any,
    db: Any,
    server: str,
    browser: Any,  # noqa: F811
) -> None:
    kazakh = {
        "surname_cyrillic": "Жанұзақов",
        "given_name_cyrillic": "Айдос",
        "patronymic_cyrillic": "Серікұлы",
        "surname_latin": "Zhanuzakov",
        "given_name_latin": "Aidos",
        "birth_date": "1990-01-15",
        "sex": "M",
        "citizenship": "CHN",
        "category": "kandas",
    }
    person = f.created(client.post("/api/v1/persons", json=kazakh, headers=admin))
    passport = {"surname": "ZHANUZAKOV", "given_name": "AIDOS", "birth_date": "1990-01-15",
                "sex": "M", "citizenship": "CHN", "category": "kandas"}  # fmt: skip
    again = f.created(client.post("/api/v1/persons", json=passport, headers=admin))
    assert [c["person_id"] for c in again["duplicate_candidates"]] == [person["id"]]
    _user(db, "saule", "analyst")
    watch = Watch()
    page = _page(browser, server, watch, viewport={"width": 1280, "height": 900})
    _sign_in(page, server, "saule")
    _totp(page)
    page.wait_for_url(f"{server}/")
    page.goto(f"{server}/people/{person['id']}?lang=ru")
    # Nothing about the person before the case reference is stated.
    assert page.locator("#duplicates").count() == 0
    page.fill("#purpose input[name=purpose]", "case-22/browser")
    page.click("#purpose button[type=submit]")
    page.wait_for_selector("#duplicates")

    names = page.locator("#names")
    assert names.locator("[data-script=cyrillic]").inner_text() == "Жанұзақов Айдос Серікұлы"
    assert names.locator("[data-script=latin]").inner_text() == "Zhanuzakov Aidos"
    assert "Имена, как в документах" in names.inner_text()
    duplicates = page.locator("#duplicates")
    assert duplicates.locator("h2").inner_text() == "Возможные дубликаты"
    assert "Ждут решения администратора" in duplicates.inner_text()
    row = duplicates.locator(f"tr[data-candidate='{again['id']}']")
    assert "ZHANUZAKOV AIDOS" in row.inner_text() and "15.01.1990" in row.inner_text()
    reasons = row.locator("ul.reasons li").all_inner_texts()
    assert "Та же дата рождения" in reasons and "Тот же пол" in reasons, reasons
    page.screenshot(path=str(ARTIFACTS / "person-card-duplicates-ru.png"), full_page=True)

    page.goto(f"{server}/people/{person['id']}?lang=kk")
    assert page.locator("#names").locator("dt").first.inner_text() == "Кириллицамен"
    duplicates = page.locator("#duplicates")
    assert duplicates.locator("h2").inner_text() == "Ықтимал қайталанулар"
    assert "Әкімшінің шешімін күтуде" in duplicates.inner_text()
    row = duplicates.locator(f"tr[data-candidate='{again['id']}']")
    reasons = row.locator("ul.reasons li").all_inner_texts()
    assert "Туған күні бірдей" in reasons and "Жынысы бірдей" in reasons, reasons
    page.screenshot(path=str(ARTIFACTS / "person-card-duplicates-kk.png"), full_page=True)

    # The candidate's link opens their card, in the same language, naming the first back.
    row.locator("a").click()
    page.wait_for_url(f"{server}/people/{again['id']}?lang=kk")
    latin_only = page.locator("#names")
    assert latin_only.locator("[data-script=latin]").inner_text() == "ZHANUZAKOV AIDOS"
    assert latin_only.locator("[data-script=cyrillic]").inner_text() == "Жазылмаған"
    assert page.locator(f"#duplicates tr[data-candidate='{person['id']}']").count() == 1
    watch.clean()
