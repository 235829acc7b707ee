"""Staff accounts: argon2 passwords, TOTP second factor, lock-out after failed sign-ins.

The rules live here; the sign-in pages and ``qonys user`` call them. Every failure is
audited with the username tried (never the password), and the account locks for
``login_lock_minutes`` after ``login_max_failures`` failures in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Conflict, Invalid, NotFound
from backend.models import Employer, Region, User
from backend.models.registries import STAFF_ROLES, TOTP_REQUIRED_ROLES
from backend.services import audit
from backend.services.tokens import Principal
from backend.settings import Settings

MIN_PASSWORD_LENGTH = 12
HASHER = PasswordHasher()
ISSUER = "Qonys"


def principal_of(user: User) -> Principal:
    """The same principal a token of this role and scope would give."""
    return Principal(
        token_id=0,
        role=user.role,
        employer_bin=user.employer_bin,
        region_kato=user.region_kato,
        name=f"user:{user.username}",
        user_id=user.id,
    )


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password or not password.isprintable():
        raise Invalid("password", "must not start or end with spaces or hold control characters")


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str,
    region_kato: str | None = None,
    employer_bin: str | None = None,
) -> User:
    username = username.strip()
    if (
        not 3 <= len(username) <= 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise Invalid("username", "3-64 letters, digits, '.', '-' or '_'")
    if role not in STAFF_ROLES:
        raise Invalid("role", f"must be one of {', '.join(STAFF_ROLES)}")
    check_password_rules(password)
    if region_kato is not None and (role != "officer" or session.get(Region, region_kato) is None):
        raise Invalid("region", "only an officer is limited to a region, and it must exist")
    if role == "employer":
        # A firm's BIN or a household employer's IIN: either way, a registered employer.
        if not employer_bin or session.get(Employer, employer_bin) is None:
            raise Invalid(
                "employer", "an employer account needs a registered employer's BIN or IIN"
            )
    elif employer_bin:
        raise Invalid("employer", "only an employer account is bound to a BIN")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username} already exists")
    user = User(
        username=username,
        role=role,
        region_kato=region_kato,
        employer_bin=employer_bin,
        password_hash=HASHER.hash(password),
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str, lock: bool = False) -> User:
    query = select(User).where(User.username == username.strip())
    user = session.scalars(query.with_for_update() if lock else query).first()
    if user is None:
        raise NotFound(f"user {username} not found")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def disable_user(session: Session, username: str) -> User:
    user = find_user(session, username, lock=True)
    user.disabled = True
    session.flush()
    return user


def reset_totp(session: Session, username: str) -> User:
    """Forget the second factor: the user enrols a new one at the next sign-in."""
    user = find_user(session, username, lock=True)
    user.totp_secret, user.totp_confirmed = None, False
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> User:
    check_password_rules(password)
    user = find_user(session, username, lock=True)
    user.password_hash = HASHER.hash(password)
    user.failed_logins, user.locked_until = 0, None
    session.flush()
    return user


@dataclass(frozen=True)
class SignIn:
    """What a correct password leads to: the user, and whether TOTP comes next."""

    user: User
    needs_totp: bool
    needs_enrolment: bool


class SignInRefused(Invalid):
    """Wrong username or password, or a locked or disabled account: one wording for all."""

    def __init__(self, locked_minutes: int | None = None) -> None:
        self.locked_minutes = locked_minutes
        detail = (
            f"the account is locked for {locked_minutes} minutes after repeated failures"
            if locked_minutes
            else "wrong username or password"
        )
        super().__init__("password", detail)


def _anonymous(username: str) -> Principal:
    return Principal(0, "anonymous", name=f"login:{username[:50]}")


def _fail(session: Session, user: User | None, username: str, settings: Settings) -> None:
    who = principal_of(user) if user else _anonymous(username)
    audit.record(session, who, "login.failed", [None], "wrong password")
    if user is None:
        return
    user.failed_logins += 1
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = clock.now() + timedelta(minutes=settings.login_lock_minutes)
        user.failed_logins = 0
        audit.record(session, who, "login.locked", [None])


def check_password(session: Session, username: str, password: str, settings: Settings) -> SignIn:
    """First step of sign-in. Raises :class:`SignInRefused` the same way for every cause."""
    user = session.scalars(
        select(User).where(User.username == username.strip()).with_for_update()
    ).first()
    if user is not None and user.locked_until and user.locked_until > clock.now():
        audit.record(session, principal_of(user), "login.refused_locked", [None])
        raise SignInRefused(settings.login_lock_minutes)
    try:
        ok = user is not None and not user.disabled and HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        _fail(session, user, username, settings)
        raise SignInRefused()
    user.failed_logins = 0
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    needs_totp = user.role in TOTP_REQUIRED_ROLES or user.totp_confirmed
    return SignIn(user, needs_totp, needs_totp and not user.totp_confirmed)


def totp_secret(session: Session, user: User) -> str:
    """The user's TOTP secret, created on first enrolment."""
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32()
        session.flush()
    return user.totp_secret


def totp_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def check_totp(session: Session, user: User, code: str, settings: Settings) -> None:
    """Second step: a current code (one step of drift allowed) confirms the enrolment too."""
    secret = user.totp_secret
    if secret is None or not pyotp.TOTP(secret).verify(code.strip(), valid_window=1):
        _fail(session, user, user.username, settings)
        raise Invalid("code", "the code is not the current one")
    user.totp_confirmed = True
    user.failed_logins = 0
    user.last_login_at = clock.now()
    audit.record(session, principal_of(user), "login", [None])


def signed_in(session: Session, user: User) -> None:
    """A sign-in without a second factor (allowed for officers and employers)."""
    user.last_login_at = clock.now()
    audit.record(session, principal_of(user), "login", [None])
