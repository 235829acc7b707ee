"""The pages as their users meet them: errors as pages in their language with a way back,
one navigation per role, refusals beside the field with what was typed kept, and alerts
as work items (row → person card under the case reference → resolved with a reason)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pyotp
from sqlalchemy import text

from backend.services.access import accounts
from backend.services.tracking import alert_store
from tests import factories as f

PASSWORD = "correct horse battery"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HTML = {"Accept": "text/html,application/xhtml+xml"}


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "the form has no CSRF token"
    return found.group(1)


def _signed_in(db: Any, client: Any, username: str, role: str, **scope: Any) -> Any:
    with db.transaction() as session:
        accounts.create_user(session, username, role, PASSWORD, **scope)
        session.execute(
            text("UPDATE users SET totp_secret = :s, totp_confirmed = true WHERE username = :u"),
            {"s": SECRET, "u": username},
        )
    page = client.get("/login").get_data(as_text=True)
    client.post(
        "/login", data={"csrf_token": _csrf(page), "username": username, "password": PASSWORD}
    )
    page = client.get("/login/totp").get_data(as_text=True)
    client.post("/login/totp", data={"csrf_token": _csrf(page), "code": pyotp.TOTP(SECRET).now()})
    return client


def test_a_browser_gets_error_pages_in_its_language_and_scripts_keep_json(
    db: Any, client: Any
) -> None:
    _signed_in(db, client, "ofelia", "officer")
    refused = client.get("/dashboard?lang=kk", headers=HTML)
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    body = refused.get_data(as_text=True)
    assert "Бұл бет сіздің рөліңіз үшін жабық" in body and 'href="/?lang=kk"' in body
    missing = client.get("/no/such/page?lang=ru", headers=HTML)
    assert missing.status_code == 404 and "Страница не найдена" in missing.get_data(as_text=True)
    api = client.get("/api/v1/no-such", headers=HTML)  # the API stays problem+json
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    script = client.get("/dashboard", headers={"Accept": "application/json"})
    assert script.status_code == 403 and script.mimetype == "application/problem+json"


def test_each_role_sees_the_pages_it_may_open_in_its_language(
    db: Any, client: Any, app: Any
) -> None:
    _signed_in(db, client, "anara", "analyst")
    home = client.get("/?lang=kk").get_data(as_text=True)
    nav = home[home.index('<nav class="pages"') : home.index("</nav>", home.index("nav class"))]
    for path in ("/dashboard?lang=kk", "/maps/monitoring?lang=kk", "/ogc/?lang=kk"):
        assert f'href="{path}"' in nav
    officer = app.test_client()
    _signed_in(db, officer, "ormon", "officer")
    page = officer.get("/officer").get_data(as_text=True)
    nav = page[page.index('<nav class="pages"') : page.index("</nav>", page.index("nav class"))]
    assert "/dashboard" not in nav and "/maps/monitoring" not in nav and "/api/docs" in nav


def test_an_employer_sees_a_refusal_beside_its_field_in_russian_and_keeps_the_typed(
    db: Any, client: Any, admin: Any
) -> None:
    bin_ = f.employer(client, admin)
    worker = f.person(client, admin)
    permit = f.permit(client, admin, worker["id"], employer_bin=bin_)
    employer = client.application.test_client()
    _signed_in(db, employer, "erbol", "employer", employer_bin=bin_)
    page = employer.get("/employer").get_data(as_text=True)
    future = (date.today() + timedelta(days=20)).isoformat()
    sent = employer.post(
        "/employer",
        data={
            "csrf_token": _csrf(page),
            "form": "notice",
            "permit_id": str(permit["id"]),
            "last_working_day": future,
            "reason": "Уволился по собственному желанию",
        },
    ).get_data(as_text=True)
    error = re.search(r'<p class="field-error" id="last_working_day-error"[^>]*>([^<]+)<', sent)
    assert error and error.group(1) == "Не может быть в будущем."
    assert "cannot be in the future" not in sent
    assert f'value="{future}"' in sent and "Уволился по собственному желанию" in sent
    assert f'<option value="{permit["id"]}" selected>' in sent
    none_chosen = employer.post(
        "/employer", data={"csrf_token": _csrf(page), "form": "notice", "reason": "x"}
    ).get_data(as_text=True)
    assert 'id="permit_id-error"' in none_chosen
    # A digit int() refuses ("²" passes str.isdigit) is no permit either: never a 500.
    for odd in ("²", "١٢", "9" * 40):
        sent_odd = employer.post(
            "/employer",
            data={"csrf_token": _csrf(page), "form": "notice", "reason": "x", "permit_id": odd},
        )
        assert sent_odd.status_code == 200
        assert 'id="permit_id-error"' in sent_odd.get_data(as_text=True)


def test_a_household_employer_files_a_notice_on_the_employer_page(
    db: Any, client: Any, admin: Any
) -> None:
    """Issue 24: a household (a private person, by IIN) files the notice for a permit it
    holds through the same page as a firm, and sees it filed."""
    iin = f.valid_iin(date(1971, 4, 9), "F")
    created = client.post(
        "/api/v1/employers", json={"iin": iin, "name": "Ахметова А."}, headers=admin
    )
    assert created.get_json()["kind"] == "household"
    worker = f.person(client, admin, surname="Токтаров")
    permit = f.permit(client, admin, worker["id"], employer_bin=iin)
    household = client.application.test_client()
    _signed_in(db, household, "ahmetova", "employer", employer_bin=iin)
    page = household.get("/employer").get_data(as_text=True)
    assert "Токтаров" in page and f'<option value="{permit["id"]}"' in page
    sent = household.post(
        "/employer",
        data={
            "csrf_token": _csrf(page),
            "form": "notice",
            "permit_id": str(permit["id"]),
            "last_working_day": date.today().isoformat(),
            "reason": "Переезд семьи",
        },
    ).get_data(as_text=True)
    assert "Уведомление подано." in sent and 'class="field-error"' not in sent
    assert permit["number"] in sent[sent.index("<h2", sent.index("notice")) :]
    with db.engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM permits WHERE id = :i"), {"i": permit["id"]}
        ).scalar_one()
    assert status == "terminated"


def test_an_officer_sees_a_late_registration_as_a_warning_beside_the_verdict(
    db: Any, client: Any, admin: Any
) -> None:
    """Issue 24: the late-registration flag shows on the officer's verdict, in words, as a
    warning that leaves the verdict as it is."""
    late = f.person(client, admin)
    today = date.today()
    f.registration(
        client,
        admin,
        late["id"],
        valid_from=(today - timedelta(days=20)).isoformat(),
        arrived_on=(today - timedelta(days=20)).isoformat(),
        notified_by="host",
        notified_on=(today - timedelta(days=2)).isoformat(),
    )
    f.permit(client, admin, late["id"])
    officer = client.application.test_client()
    _signed_in(db, officer, "orazbek", "officer")
    for lang, words in (
        ("ru", "Предупреждение: Зарегистрирован с опозданием"),
        ("kk", "Ескерту: Кешігіп тіркелген"),
    ):
        page = officer.get(f"/officer?lang={lang}").get_data(as_text=True)
        verdict = officer.post(
            f"/officer?lang={lang}",
            data={
                "csrf_token": _csrf(page),
                "form": "check",
                "who": late["iin"],
                "lat": "51.128",
                "lon": "71.43",
            },
        ).get_data(as_text=True)
        section = verdict[verdict.index('<section class="verdict') :]
        section = section[: section.index("</section>")]
        assert 'class="verdict ok"' in section, section
        assert 'data-warning="late_registration"' in section and words in section


def test_an_alert_opens_the_person_under_the_case_reference_and_is_resolved_there(
    db: Any, client: Any, admin: Any
) -> None:
    quiet = f.person(client, admin, surname="Тихонов")
    caller = f.person(client, admin, surname="Сапарова")
    with db.transaction() as session:
        alert_store.open_alert(session, quiet["id"], "silent_device", None, {})
        alert_store.open_alert(session, caller["id"], "sos", None, {"lat": 43.2, "lon": 76.9})
    analyst = client.application.test_client()
    _signed_in(db, analyst, "aset", "analyst")
    home = analyst.get("/").get_data(as_text=True)
    # Alerts name persons: none before the case reference is stated (issue 28, F9).
    assert "data-alert=" not in home and 'name="purpose"' in home
    analyst.post("/", data={"csrf_token": _csrf(home), "form": "purpose", "purpose": "дело 7/26"})
    home = analyst.get("/").get_data(as_text=True)
    rows = re.findall(r'<tr class="alert-row( sos)?" data-alert="\d+" data-kind="(\w+)"', home)
    assert rows[0] == (" sos", "sos") and ("", "silent_device") in rows  # SOS first, marked
    card_url = f"/people/{caller['id']}"
    assert card_url in home
    # The card reads under the case reference stated for the session.
    card = analyst.get(card_url).get_data(as_text=True)
    assert "Сапарова" in card and "дело 7/26" in card
    alert_id = int(re.search(r'id="alert-(\d+)"', card).group(1))  # type: ignore[union-attr]
    empty = analyst.post(
        card_url,
        data={"csrf_token": _csrf(card), "form": "resolve", "alert_id": alert_id, "reason": ""},
    ).get_data(as_text=True)
    assert f'id="reason-{alert_id}-error"' in empty
    done = analyst.post(
        card_url,
        data={
            "csrf_token": _csrf(card),
            "form": "resolve",
            "alert_id": alert_id,
            "reason": "Перезвонили, помощь не нужна",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Оповещение закрыто" in done
    with db.engine.connect() as conn:
        status, why = conn.execute(
            text("SELECT status, close_reason FROM alerts WHERE id = :i"), {"i": alert_id}
        ).one()
        purposes = set(
            conn.execute(
                text(
                    "SELECT purpose FROM audit_log WHERE actor = 'user:aset' AND action = 'person.read'"
                )
            ).scalars()
        )
    assert status == "closed" and "Перезвонили" in why and purposes == {"дело 7/26"}
    rows = analyst.get("/alerts/rows").get_data(as_text=True)
    assert 'data-kind="sos"' not in rows and 'data-kind="silent_device"' in rows


def test_the_lookup_takes_an_iin_a_document_or_an_id_as_typed(
    db: Any, client: Any, admin: Any
) -> None:
    person = f.person(client, admin, document={"type": "passport", "number": "FA7654321"})
    analyst = client.application.test_client()
    _signed_in(db, analyst, "alma", "analyst")
    home = analyst.get("/").get_data(as_text=True)
    analyst.post("/", data={"csrf_token": _csrf(home), "form": "purpose", "purpose": "дело 1"})
    iin = person["iin"]
    for typed in (f" {iin[:6]} {iin[6:]} ", "fa 765 4321", str(person["id"])):
        sent = analyst.post("/", data={"csrf_token": _csrf(home), "form": "lookup", "key": typed})
        assert sent.status_code == 302, typed
        assert sent.headers["Location"].endswith(f"/people/{person['id']}")
    nobody = analyst.post(
        "/?lang=en", data={"csrf_token": _csrf(home), "form": "lookup", "key": "ZZ 000"}
    ).get_data(as_text=True)
    assert 'id="key-error"' in nobody and 'value="ZZ 000"' in nobody


def test_an_admin_enrols_a_phone_from_the_browser_and_is_warned_of_a_loopback_url(
    db: Any, client: Any, admin: Any
) -> None:
    person = f.person(client, admin)
    page_client = client.application.test_client()
    _signed_in(db, page_client, "adil", "admin")
    page = page_client.get("/admin?lang=ru").get_data(as_text=True)
    assert 'id="loopback-warning"' in page  # the test app's public URL is 127.0.0.1
    roles = re.findall(
        r'<tr data-token="\d+" data-state="\w+">\s*<td>\d+</td><td>([^<]+)</td>', page
    )
    assert "администратор" in roles and "admin" not in roles
    enrol = {"csrf_token": _csrf(page), "form": "enrol", "person_id": str(person["id"])}
    refused = page_client.post("/admin", data=enrol).get_data(as_text=True)
    assert 'id="loopback_ok-error"' in refused and 'id="enrolled"' not in refused
    done = page_client.post("/admin", data={**enrol, "loopback_ok": "y"}).get_data(as_text=True)
    assert 'id="enrolled"' in done and done.count('src="data:image/svg+xml') == 2
    assert "Traccar Client" in done and "OwnTracks" in done
    unknown = page_client.post(
        "/admin", data={**enrol, "person_id": "999999999", "loopback_ok": "y"}
    ).get_data(as_text=True)
    assert 'id="person_id-error"' in unknown
