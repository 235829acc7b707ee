"""Account rules that need no database: passwords, second factor, the CSP."""

from __future__ import annotations

import pyotp
import pytest

from backend.api.csp import content_policy, inline_script_hashes
from backend.errors import Invalid
from backend.models import User
from backend.services.access import accounts


@pytest.mark.parametrize(
    "password", ["short", "eleven char", " leading space ok?", "tab\tinside-long"]
)
def test_weak_or_odd_passwords_are_refused(password: str) -> None:
    with pytest.raises(Invalid, match="password"):
        accounts.check_password_rules(password)


def test_a_long_passphrase_is_accepted_and_hashed_with_argon2() -> None:
    accounts.check_password_rules("correct horse battery")
    digest = accounts.HASHER.hash("correct horse battery")
    assert digest.startswith("$argon2id$")
    assert accounts.HASHER.verify(digest, "correct horse battery")


def test_a_session_account_acts_like_a_token_of_its_role() -> None:
    user = User(id=7, username="gulnar", role="employer", employer_bin="123456789012")
    who = accounts.principal_of(user)
    assert (who.role, who.employer_bin, who.user_id, who.actor) == (
        "employer",
        "123456789012",
        7,
        "user:gulnar",
    )


def test_totp_uri_names_the_issuer_and_the_account() -> None:
    user = User(username="aigerim")
    secret = pyotp.random_base32()
    uri = accounts.totp_uri(user, secret)
    assert uri.startswith("otpauth://totp/Qonys:aigerim?") and f"secret={secret}" in uri


def test_csp_hashes_only_inline_scripts() -> None:
    html = b'<script src="/a.js"></script><script>alert(1)</script>'
    hashes = inline_script_hashes(html)
    assert hashes == ["'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"]
    assert "script-src 'self' 'sha256-" in content_policy(hashes)
    assert "'unsafe-inline'" not in content_policy(hashes).split("style-src")[0]
