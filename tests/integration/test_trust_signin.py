"""Issue 28: sign-in as ASVS L2 wants it (F2, F4, F16 first bullet), sessions that end
(F3), and pages under the API's rules (F8-F11). Each test replays the reported attack."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from typing import Any, Literal
from urllib.parse import quote

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import text

from backend import clock
from backend.services.access import accounts, signin_throttle
from backend.services.access.signin_throttle import Attempt
from backend.web.auth import safe_next
from tests import factories as f
from tests import helpers as h
from tests.integration.test_accounts import PASSWORD, REFUSED, _csrf, _sign_in

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _user(db: Any, username: str, role: str, totp: bool = False, **scope: Any) -> None:
    with db.transaction() as session:
        accounts.create_user(session, username, role, PASSWORD, **scope)
        if totp:
            session.execute(
                text(
                    "UPDATE users SET totp_secret = :s, totp_confirmed = true WHERE username = :u"
                ),
                {"s": SECRET, "u": username},
            )


def _code(client: Any, code: str) -> Any:
    page = client.get("/login/totp").get_data(as_text=True)
    return client.post("/login/totp", data={"csrf_token": _csrf(page), "code": code})


def _from(app: Any, address: str, agent: str = "pytest") -> Any:
    other = app.test_client()
    other.environ_base.update(REMOTE_ADDR=address, HTTP_USER_AGENT=agent)
    return other


# F2 -----------------------------------------------------------------------------------


def test_a_totp_code_signs_in_once(db: Any, app: Any) -> None:
    _user(db, "gulnar", "analyst", totp=True)
    code = pyotp.TOTP(SECRET).now()
    first = _from(app, "10.1.0.1")
    _sign_in(first, "gulnar")
    assert _code(first, code).status_code == 302
    replay = _from(app, "10.1.0.2")
    _sign_in(replay, "gulnar")
    refused = _code(replay, code)  # the same code again, within its window
    assert refused.status_code == 401 and replay.get("/").status_code == 302


def test_wrong_codes_count_toward_the_lock_out(db: Any, client: Any, migrated: Any) -> None:
    _user(db, "hamit", "analyst", totp=True)
    assert _sign_in(client, "hamit").headers["Location"].startswith("/login/totp")
    for _ in range(migrated.login_max_failures):
        assert _code(client, "000000").status_code == 401
    # Locked: the second step sends back to the password, which is refused too.
    assert client.get("/login/totp").headers["Location"].endswith("/login")
    refused = _sign_in(client, "hamit")
    assert refused.status_code == 401 and REFUSED in refused.get_data(as_text=True)
    assert "login.locked" in h.scalars(db, "SELECT action FROM audit_log WHERE actor='user:hamit'")


# F4 and F16 (failed usernames) ---------------------------------------------------------


def test_unknown_names_pay_the_same_argon2_work(
    db: Any, migrated: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashes: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            hashes.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "HASHER", Counting())
    _user(db, "ilyas", "officer")
    for name in ("ilyas", "nobody-at-all"):
        with db.transaction() as session, pytest.raises(accounts.SignInRefused):
            attempt = Attempt.of(name, "10.2.0.1", b"k")
            accounts.check_password(session, name, "wrong password!", migrated, attempt)
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # the unknown name was checked against the dummy hash


def test_one_message_for_every_refusal_and_no_lock_at_will(
    db: Any, app: Any, migrated: Any
) -> None:
    """A made-up name and a real one behave alike; an attacker's failures make their own
    address wait, never the owner signing in from theirs."""
    _user(db, "jamila", "officer")
    _user(db, "kairat", "officer")
    with db.transaction() as session:
        accounts.disable_user(session, "kairat")
    attacker = _from(app, "10.3.0.66")
    pages = []
    for _ in range(migrated.login_max_failures):
        pages.append(_sign_in(attacker, "jamila", "wrong password!"))
        pages.append(_sign_in(attacker, "made-up-name", "wrong password!"))
    pages.append(_sign_in(attacker, "jamila"))  # right password, but this address waits
    pages.append(_sign_in(attacker, "kairat"))  # right password, disabled account
    errors = {
        re.search(r'class="error"[^>]*>([^<]+)<', p.get_data(as_text=True)).group(1) for p in pages
    }
    assert {p.status_code for p in pages} == {401} and len(errors) == 1
    locked = h.scalars(db, "SELECT actor FROM audit_log WHERE action = 'login.locked'")
    made_up = signin_throttle.username_hash("made-up-name", str(app.secret_key).encode())
    assert "user:jamila" in locked and f"login:{made_up[:16]}" in locked
    owner = _from(app, "10.3.0.7")
    assert _sign_in(owner, "jamila").status_code == 302


def test_failed_usernames_are_kept_only_as_a_keyed_hash(db: Any, client: Any) -> None:
    typed = "Hunter2-typed-into-the-name"
    _sign_in(client, typed, "wrong password!")
    rows = h.scalars(db, "SELECT actor FROM audit_log WHERE action = 'login.failed' ORDER BY id")
    assert rows and not any(typed.lower() in r.lower() for r in rows)
    assert re.fullmatch(r"login:[0-9a-f]{16}", rows[-1])


def test_back_off_per_address_and_doubling(db: Any, migrated: Any) -> None:
    spraying = [Attempt.of(f"name{n}", "10.4.0.1", b"k") for n in range(30)]
    with db.transaction() as session:
        limit = migrated.login_max_failures * signin_throttle.ADDRESS_BUDGET_FACTOR
        for attempt in spraying[:limit]:
            signin_throttle.fail(session, attempt, migrated)
        # Many names from one address: the next name waits too; another address does not.
        assert signin_throttle.blocked(session, spraying[limit])
        assert not signin_throttle.blocked(session, Attempt.of("name1", "10.4.0.2", b"k"))
        one = Attempt.of("someone", "10.4.0.3", b"k")
        waits = []
        for _round in range(2):
            for _ in range(migrated.login_max_failures):
                signin_throttle.fail(session, one, migrated)
            until = session.execute(
                text("SELECT blocked_until FROM signin_throttle WHERE key = :k"),
                {"k": one.account_key},
            ).scalar_one()
            waits.append(until - clock.now())
        assert waits[1] > waits[0] * 1.5  # the second block lasts about twice as long


# F3 -----------------------------------------------------------------------------------


def _copied(app: Any, signed: Any) -> Any:
    """Another client, another user agent, holding a copy of ``signed``'s cookie."""
    thief = _from(app, "10.5.0.99", agent="curl/8.0")
    thief.set_cookie("qonys_session", signed.get_cookie("qonys_session").value)
    return thief


@pytest.mark.parametrize("ending", ["logout", "password", "reset_totp", "disable"])
def test_every_copy_of_the_cookie_ends(db: Any, app: Any, admin: Any, ending: str) -> None:
    person = f.person(app.test_client(), admin)
    _user(db, "lyazzat", "officer")
    browser = _from(app, "10.5.0.1")
    assert _sign_in(browser, "lyazzat").status_code == 302
    thief = _copied(app, browser)
    assert thief.get("/api/v1/alerts").status_code == 200  # the copy works, until:
    if ending == "logout":
        page = browser.get("/officer").get_data(as_text=True)
        browser.post("/logout", data={"csrf_token": _csrf(page)})
    else:
        with db.transaction() as session:
            if ending == "password":
                accounts.set_password(session, "lyazzat", "another long password")
            elif ending == "reset_totp":
                accounts.reset_totp(session, "lyazzat")
            else:
                accounts.disable_user(session, "lyazzat")
    assert thief.get("/api/v1/alerts").status_code == 401
    assert thief.get(f"/api/v1/persons/{person['id']}").status_code == 401
    assert browser.get("/officer").status_code == 302


# F8 -----------------------------------------------------------------------------------


def test_an_idempotent_replay_belongs_to_its_caller(db: Any, app: Any, admin: Any) -> None:
    client = app.test_client()
    person = f.person(client, admin)
    f.registration(client, admin, person["id"])
    bin_a, bin_b = f.employer(client, admin), f.employer(client, admin)
    permit = f.permit(client, admin, person["id"], employer_bin=bin_a)
    _user(db, "employer-a", "employer", employer_bin=bin_a)
    _user(db, "employer-b", "employer", employer_bin=bin_b)
    url = f"/api/v1/employers/{bin_a}/termination-notices"
    body = {
        "permit_id": permit["id"],
        "last_working_day": (date.today() - timedelta(days=1)).isoformat(),
        "reason": "left",
    }
    answers = []
    for name, address in (("employer-a", "10.6.0.1"), ("employer-b", "10.6.0.2")):
        browser = _from(app, address)
        _sign_in(browser, name)
        csrf = _csrf(browser.get("/employer").get_data(as_text=True))
        headers = {"X-CSRFToken": csrf, "Idempotency-Key": "notice-1"}
        answers.append(browser.post(url, json=body, headers=headers))
    assert answers[0].status_code == 201
    assert answers[1].status_code == 404 and "permit_id" not in answers[1].get_json()


# F9 -----------------------------------------------------------------------------------


def test_home_alerts_need_a_purpose(db: Any, app: Any, admin: Any) -> None:
    client = app.test_client()
    person = f.person(client, admin)
    with db.transaction() as session:
        session.execute(
            text(
                "INSERT INTO alerts (person_id, kind, region_kato, details)"
                " VALUES (:p, 'silent_device', '710000000', '{}')"
            ),
            {"p": person["id"]},
        )
    _user(db, "madina", "analyst", totp=True)
    _sign_in(client, "madina")
    _code(client, pyotp.TOTP(SECRET).now())
    home = client.get("/").get_data(as_text=True)
    assert f"/people/{person['id']}" not in home
    listed = "SELECT purpose FROM audit_log WHERE action = 'alerts.list' AND actor = 'user:madina'"
    assert not h.scalars(db, listed)
    client.post("/", data={"csrf_token": _csrf(home), "form": "purpose", "purpose": "case 28/9"})
    assert f"/people/{person['id']}" in client.get("/").get_data(as_text=True)
    assert set(h.scalars(db, listed)) == {"case 28/9"}


# F10 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/phish",
        "/\t/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "/%252F/evil.example",
        "https://evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x",
    ],
)
def test_next_is_only_a_path_on_this_site(app: Any, target: str) -> None:
    with app.test_request_context(f"/login?next={quote(target, safe='%/:')}"):
        assert safe_next() is None
    with app.test_request_context("/login?next=/officer%3Fpage%3D2"):
        assert safe_next() == "/officer?page=2"


def test_the_reported_next_redirects_home(db: Any, client: Any) -> None:
    _user(db, "nazira", "officer")
    token = _csrf(client.get("/login").get_data(as_text=True))
    resp = client.post(
        "/login?next=/%09/evil.example/phish",
        data={"csrf_token": token, "username": "nazira", "password": PASSWORD},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/officer"


# F11 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", "Token x", "Bearer", "Bearer qny_x"]
)
def test_a_session_write_needs_csrf_whatever_authorization_says(
    db: Any, client: Any, authorization: str
) -> None:
    _user(db, "olzhas", "officer")
    _sign_in(client, "olzhas")
    write = {"iin": "900517300019", "location": {"lat": 51.16, "lon": 71.47}}
    resp = client.post("/api/v1/checks", json=write, headers={"Authorization": authorization})
    assert resp.status_code == 400
    assert resp.get_json()["errors"][0]["field"] == "csrf_token"


def test_set_password_at_the_command_line_ends_the_sessions(db: Any, app: Any) -> None:
    _user(db, "pakizat", "officer")
    browser = _from(app, "10.7.0.1")
    assert _sign_in(browser, "pakizat").status_code == 302
    changed = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "user",
            "set-password",
            "pakizat",
            "--password-stdin",
        ],
        input="a brand new passphrase\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert changed.returncode == 0, changed.stderr
    assert browser.get("/officer").status_code == 302
    assert _sign_in(browser, "pakizat", "a brand new passphrase").status_code == 302


def test_a_request_without_the_cookie_gets_none_and_the_cookie_still_signs_in(
    db: Any, app: Any, admin: Any
) -> None:
    """Sessions are read only from a cookie that is sent (backend/web/session.py
    CookieSessions, issue 27): a token's call gets no cookie; a signed-in cookie carries
    over to another client, and a forged one reads as nobody."""
    answer = app.test_client().get("/api/v1/alerts", headers=admin)
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    _user(db, "saule", "analyst", totp=True)
    browser = _from(app, "10.1.0.9")
    _sign_in(browser, "saule")
    assert _code(browser, pyotp.TOTP(SECRET).now()).status_code == 302
    cookie = browser.get_cookie("qonys_session")
    assert cookie is not None and browser.get("/dashboard").status_code == 200
    other = _from(app, "10.1.0.9")
    other.set_cookie("qonys_session", cookie.value)
    assert other.get("/dashboard").status_code == 200
    # One character of the signature changed (its middle: every bit of it counts).
    payload, _, signature = cookie.value.rpartition(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    forged = _from(app, "10.1.0.9")
    forged.set_cookie(
        "qonys_session", f"{payload}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"
    )
    # Read as nobody: the answer of a browser that sends no cookie at all.
    nobody = _from(app, "10.1.0.9").get("/dashboard")
    assert forged.get("/dashboard").status_code == nobody.status_code == 401
