"""Staff accounts and sessions against the real database: lock-out, TOTP, CSRF, timeouts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import text

from backend import clock
from backend.errors import Conflict, Invalid
from backend.services.access import accounts
from tests import factories as f

# On Citus (tests/citus_suites.py) only the tests marked below: the rest exercise
# nothing that differs between the engines.

PASSWORD = "correct horse battery"
# The one wording of every refused sign-in (Russian, the default language).
REFUSED = "Вход отклонён"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "the form has no CSRF token"
    return found.group(1)


def _sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    token = _csrf(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login", data={"csrf_token": token, "username": username, "password": password}
    )


def _user(db: Any, username: str, role: str, **scope: Any) -> None:
    with db.transaction() as session:
        accounts.create_user(session, username, role, PASSWORD, **scope)


def test_account_rules(db: Any, client: Any, admin: Any) -> None:
    with db.transaction() as session:
        with pytest.raises(Invalid, match="employer"):
            accounts.create_user(session, "emp", "employer", PASSWORD, employer_bin="123")
        with pytest.raises(Invalid, match="region"):
            accounts.create_user(session, "off", "officer", PASSWORD, region_kato="999999999")
        with pytest.raises(Invalid, match="role"):
            accounts.create_user(session, "dev", "device", PASSWORD)
    bin_ = f.employer(client, admin)
    _user(db, "emp", "employer", employer_bin=bin_)
    with db.transaction() as session, pytest.raises(Conflict):
        accounts.create_user(session, "emp", "analyst", PASSWORD)
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE username='emp'")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_failures_lock_the_account_and_are_audited(db: Any, client: Any, migrated: Any) -> None:
    _user(db, "ivan", "officer")
    for _ in range(migrated.login_max_failures):
        assert _sign_in(client, "ivan", "not the password").status_code == 401
    refused = _sign_in(client, "ivan")  # the right password, but this address waits
    assert refused.status_code == 401 and REFUSED in refused.get_data(as_text=True)
    with db.engine.connect() as conn:
        actions = (
            conn.execute(text("SELECT action FROM audit_log WHERE actor = 'user:ivan' ORDER BY id"))
            .scalars()
            .all()
        )
    assert actions.count("login.failed") == migrated.login_max_failures
    assert "login.locked" in actions and actions[-1] == "login.refused_locked"
    # The wait ends by itself.
    with db.transaction() as session:
        session.execute(
            text("UPDATE signin_throttle SET blocked_until = :t"),
            {"t": clock.now() - timedelta(seconds=1)},
        )
    assert _sign_in(client, "ivan").status_code == 302


def test_an_unknown_user_fails_like_a_wrong_password(client: Any) -> None:
    resp = _sign_in(client, "nobody-here")
    assert resp.status_code == 401
    assert REFUSED in resp.get_data(as_text=True)


def test_analysts_need_totp_officers_may_skip_it(db: Any, client: Any) -> None:
    _user(db, "jan", "analyst")
    resp = _sign_in(client, "jan")
    assert resp.headers["Location"].startswith("/login/totp")
    assert client.get("/").status_code == 302  # not signed in before the second step
    page = client.get("/login/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    bad = client.post("/login/totp", data={"csrf_token": _csrf(page), "code": "000000"})
    assert bad.status_code == 401
    good = client.post(
        "/login/totp", data={"csrf_token": _csrf(page), "code": pyotp.TOTP(secret).now()}
    )
    assert good.status_code == 302 and client.get("/").status_code == 200
    _user(db, "kamila", "officer")
    client.post("/logout", data={"csrf_token": _csrf(client.get("/").get_data(as_text=True))})
    assert _sign_in(client, "kamila").headers["Location"] == "/officer"


@pytest.mark.citus
def test_a_session_uses_the_api_with_the_same_rules_and_csrf(
    db: Any, client: Any, token: Any
) -> None:
    _user(db, "lena", "officer")
    _sign_in(client, "lena")
    assert client.get("/api/v1/alerts").status_code == 200  # officers read alerts
    assert client.get("/api/v1/persons").status_code == 403  # but not the register
    write = {"iin": "900517300019", "location": {"lat": 51.16, "lon": 71.47}}
    refused = client.post("/api/v1/checks", json=write)
    assert refused.status_code == 400 and refused.get_json()["errors"][0]["field"] == "csrf_token"
    token_value = _csrf(client.get("/officer").get_data(as_text=True))
    allowed = client.post("/api/v1/checks", json=write, headers={"X-CSRFToken": token_value})
    assert allowed.status_code == 200
    with db.engine.connect() as conn:
        actor = conn.execute(
            text("SELECT actor FROM audit_log WHERE action = 'person.check' ORDER BY id DESC")
        ).scalar()
    assert actor == "user:lena"
    # A script with its own token needs no CSRF token: there is no cookie to forge.
    fresh = client.application.test_client()
    assert fresh.post("/api/v1/checks", json=write, headers=token("officer")).status_code == 200


def test_sessions_end_when_idle_too_long_or_too_old(db: Any, client: Any, migrated: Any) -> None:
    _user(db, "marat", "officer")
    _sign_in(client, "marat")
    assert client.get("/officer").status_code == 200
    with client.session_transaction() as session:
        session["seen"] -= migrated.session_idle_minutes * 60 + 1
    assert client.get("/officer").status_code == 302
    _sign_in(client, "marat")
    with client.session_transaction() as session:
        session["started"] -= migrated.session_absolute_hours * 3600 + 1
        session["seen"] = clock.now().timestamp()
    assert client.get("/officer").status_code == 302


def test_a_disabled_account_is_signed_out(db: Any, client: Any) -> None:
    _user(db, "nurlan", "officer")
    _sign_in(client, "nurlan")
    with db.transaction() as session:
        accounts.disable_user(session, "nurlan")
    assert client.get("/officer").status_code == 302
    assert _sign_in(client, "nurlan").status_code == 401


def test_pages_carry_csp_and_no_store(db: Any, client: Any) -> None:
    _user(db, "olga", "officer")
    _sign_in(client, "olga")
    resp = client.get("/officer")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "unsafe-inline" not in csp.split(";")[1]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'nonce="{nonce}"' in resp.get_data(as_text=True)
    assert resp.headers["Cache-Control"] == "no-store"


def test_user_commands(migrated: Any) -> None:
    def qonys(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend.cli", "user", *args],
            input=stdin,
            env={**os.environ, "DATABASE_URL": migrated.database_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    made = qonys(
        "create",
        "--username",
        "pavel",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert "required at first sign-in" in made.stdout
    short = qonys(
        "create", "--username", "pavel2", "--role", "admin", "--password-stdin", stdin="short\n"
    )
    assert short.returncode != 0 and "at least 12" in short.stderr
    assert "pavel" in qonys("list").stdout
    assert qonys("reset-totp", "pavel").returncode == 0
    assert qonys("disable", "pavel").returncode == 0
    assert "disabled" in qonys("list").stdout


def test_a_session_states_its_purpose_once(db: Any, client: Any, admin: Any) -> None:
    """Analysts give the case reference on the page; API reads in the session carry it."""
    person = f.person(client, admin)
    with db.transaction() as session:
        accounts.create_user(session, "rustam", "analyst", PASSWORD)
        session.execute(
            text(
                "UPDATE users SET totp_secret = :s, totp_confirmed = true WHERE username = 'rustam'"
            ),
            {"s": pyotp.random_base32()},
        )
        secret = session.execute(
            text("SELECT totp_secret FROM users WHERE username = 'rustam'")
        ).scalar_one()
    _sign_in(client, "rustam")
    page = client.get("/login/totp").get_data(as_text=True)
    client.post("/login/totp", data={"csrf_token": _csrf(page), "code": pyotp.TOTP(secret).now()})
    assert client.get(f"/api/v1/persons/{person['id']}").status_code == 403  # no purpose yet
    home = client.get("/").get_data(as_text=True)
    client.post("/", data={"csrf_token": _csrf(home), "form": "purpose", "purpose": "case 2026/55"})
    assert client.get(f"/api/v1/persons/{person['id']}").status_code == 200
    with db.engine.connect() as conn:
        purpose = conn.execute(
            text(
                "SELECT purpose FROM audit_log WHERE actor = 'user:rustam' AND action = 'person.read'"
            )
        ).scalar()
    assert purpose == "case 2026/55"


def test_an_admin_revokes_a_token_and_disables_an_account_from_the_page(
    db: Any, client: Any, token: Any
) -> None:
    victim = token("officer")
    _user(db, "sergey", "admin")
    _user(db, "timur", "officer")
    with db.transaction() as session:
        session.execute(
            text(
                "UPDATE users SET totp_secret = :s, totp_confirmed = true WHERE username = 'sergey'"
            ),
            {"s": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"},
        )
    _sign_in(client, "sergey")
    page = client.get("/login/totp").get_data(as_text=True)
    client.post(
        "/login/totp",
        data={
            "csrf_token": _csrf(page),
            "code": pyotp.TOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").now(),
        },
    )
    home = client.get("/admin").get_data(as_text=True)
    assert "timur" in home
    with db.engine.connect() as conn:
        token_id = conn.execute(text("SELECT max(id) FROM api_tokens")).scalar_one()
    revoke = {"csrf_token": _csrf(home), "form": "revoke-token", "token_id": str(token_id)}
    asked = client.post("/admin", data=revoke).get_data(as_text=True)
    assert 'id="confirm"' in asked  # asked first: nothing revoked yet
    assert client.application.test_client().get("/api/v1/alerts", headers=victim).status_code == 200
    said = client.post("/admin", data={**revoke, "confirm": "yes"}).get_data(as_text=True)
    assert 'id="result"' in said
    disable = {"csrf_token": _csrf(home), "form": "disable-user", "username": "timur"}
    client.post("/admin", data={**disable, "confirm": "yes"})
    fresh = client.application.test_client()
    assert fresh.get("/api/v1/alerts", headers=victim).status_code == 401
    assert _sign_in(fresh, "timur").status_code == 401


def test_sign_in_attempts_are_limited_per_address(client: Any, db: Any) -> None:
    """Guessing across many accounts from one address: 429 with Retry-After after 20."""
    for n in range(20):
        assert _sign_in(client, f"nobody{n}", "wrong password!").status_code in (200, 401)
    over = _sign_in(client, "nobody-else", "wrong password!")
    assert over.status_code == 429 and over.mimetype == "application/problem+json"
    assert int(over.headers["Retry-After"]) > 0
    with db.engine.connect() as conn:
        assert (
            conn.scalar(text("SELECT count(*) FROM audit_log WHERE actor = 'user:nobody-else'"))
            == 0
        )  # refused before it reached the accounts
