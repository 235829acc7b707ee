"""Staff accounts: argon2 passwords, TOTP second factor, lock-out after failed sign-ins.

The rules live here; the sign-in pages and ``qonys user`` call them. Every failure is
audited (an unknown username only as a keyed hash), and repeated failures back off per
account and address and per address (:mod:`backend.services.access.signin_throttle`).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Conflict, Invalid, NotFound
from backend.identifiers import ascii_digits
from backend.models import Employer, Region, User
from backend.models.registries import (
    ALERT_DELIVERIES,
    LANGUAGES,
    REPORT_SCHEDULES,
    STAFF_ROLES,
    TOTP_REQUIRED_ROLES,
)
from backend.services.access import audit, signin_throttle
from backend.services.access.signin_throttle import Attempt
from backend.services.access.tokens import Principal
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
    email: str | None = None,
    language: str = "ru",
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
        email=normal_email(email) if email else None,
        language=_language(language),
    )
    session.add(user)
    session.flush()
    return user


def normal_email(address: str) -> str:
    """An address mail can be sent to, normalised (``email-validator``, no DNS lookup)."""
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise Invalid("email", str(exc)) from exc


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise Invalid("language", f"must be one of {', '.join(LANGUAGES)}")
    return language


def set_notifications(
    session: Session,
    username: str,
    email: str | None = None,
    language: str | None = None,
    alert_delivery: str | None = None,
) -> User:
    """Where and how an account hears of things; the caller audits the change."""
    user = find_user(session, username, lock=True)
    if email is not None:
        user.email = normal_email(email) if email.strip() else None
    if language is not None:
        user.language = _language(language)
    if alert_delivery is not None:
        if alert_delivery not in ALERT_DELIVERIES:
            raise Invalid("alert_delivery", f"must be one of {', '.join(ALERT_DELIVERIES)}")
        user.alert_delivery = alert_delivery
    session.flush()
    return user


def set_report(session: Session, user: User, schedule: str | None, region_kato: str | None) -> None:
    """An analyst's (or admin's) scheduled report: weekly, monthly or none, for a region
    (None: the whole country)."""
    if schedule is not None and schedule not in REPORT_SCHEDULES:
        raise Invalid("report_schedule", f"must be one of {', '.join(REPORT_SCHEDULES)}")
    if schedule is not None and user.role not in ("analyst", "admin"):
        raise Invalid("report_schedule", "only analysts and admins receive scheduled reports")
    if region_kato and session.get(Region, region_kato) is None:
        raise Invalid("report_region_kato", "no such region")
    user.report_schedule, user.report_region_kato = schedule, region_kato or None
    session.flush()


def find_user(session: Session, username: str, lock: bool = False) -> User:
    query = select(User).where(User.username == username.strip())
    user = session.scalars(query.with_for_update() if lock else query).first()
    if user is None:
        raise NotFound(f"user {username} not found")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def end_sessions(session: Session, user: User) -> None:
    """End every browser session of the account, every copy of every cookie, at once:
    the cookie names the session version, which no longer matches. The caller holds the
    account's row lock."""
    user.session_version += 1
    session.flush()


def disable_user(session: Session, username: str) -> User:
    user = find_user(session, username, lock=True)
    user.disabled = True
    end_sessions(session, user)
    return user


def reset_totp(session: Session, username: str) -> User:
    """Forget the second factor: the user enrols a new one at the next sign-in."""
    user = find_user(session, username, lock=True)
    user.totp_secret, user.totp_confirmed, user.totp_last_step = None, False, None
    end_sessions(session, user)
    return user


def set_password(session: Session, username: str, password: str) -> User:
    check_password_rules(password)
    user = find_user(session, username, lock=True)
    user.password_hash = HASHER.hash(password)
    end_sessions(session, user)
    return user


@dataclass(frozen=True)
class SignIn:
    """What a correct password leads to: the user, and whether TOTP comes next."""

    user: User
    needs_totp: bool
    needs_enrolment: bool


class SignInRefused(Invalid):
    """Wrong username, password or code, a disabled account or an attempt that must wait
    after repeated failures: one wording for all, so that a refusal tells nothing."""

    def __init__(self) -> None:
        super().__init__("password", "sign-in refused: wrong username or password, or wait")


@cache
def _dummy_hash() -> str:
    """An argon2 hash no password matches: unknown names pay the same hash time."""
    return HASHER.hash(secrets.token_urlsafe(24))


def _anonymous(attempt: Attempt) -> Principal:
    # The name as typed may hold a password: the audit log keeps its keyed hash only.
    return Principal(0, "anonymous", name=f"login:{attempt.username_key[:16]}")


def _fail(session: Session, user: User | None, attempt: Attempt, settings: Settings) -> None:
    who = principal_of(user) if user else _anonymous(attempt)
    audit.record(session, who, "login.failed", [None], "wrong password or code")
    if signin_throttle.fail(session, attempt, settings):
        audit.record(session, who, "login.locked", [None], f"from {attempt.address}")


def check_password(
    session: Session, username: str, password: str, settings: Settings, attempt: Attempt
) -> SignIn:
    """First step of sign-in. Raises :class:`SignInRefused` the same way, after the same
    argon2 work, for every cause: unknown name, wrong password, disabled, backing off."""
    user = session.scalars(
        select(User).where(User.username == username.strip()).with_for_update()
    ).first()
    waiting = signin_throttle.blocked(session, attempt)
    ok: bool
    try:
        ok = HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        ok = False
    if waiting:
        who = principal_of(user) if user else _anonymous(attempt)
        audit.record(session, who, "login.refused_locked", [None], f"from {attempt.address}")
        raise SignInRefused()
    if not ok or user is None or user.disabled:
        _fail(session, user, attempt, settings)
        raise SignInRefused()
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


def _totp_step(secret: str, code: str) -> int | None:
    """The time step ``code`` belongs to (one step of drift allowed), or None."""
    totp, now = pyotp.TOTP(secret), time.time()
    if not (len(code) == totp.digits and ascii_digits(code)):
        return None
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if hmac.compare_digest(totp.at(int(at)), code):
            return int(at // totp.interval)
    return None


def check_totp(
    session: Session, user: User, code: str, settings: Settings, attempt: Attempt
) -> None:
    """Second step: a current code, accepted once (its time step is stored), confirms the
    enrolment too. A wrong or replayed code counts toward the back-off like a password."""
    secret = user.totp_secret
    step = _totp_step(secret, code.strip()) if secret else None
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        _fail(session, user, attempt, settings)
        raise Invalid("code", "the code is not the current one")
    user.totp_last_step = step
    user.totp_confirmed = True
    signed_in(session, user, attempt)


def signed_in(session: Session, user: User, attempt: Attempt) -> None:
    """A complete sign-in: its failures from this address are forgotten."""
    signin_throttle.succeed(session, attempt)
    user.last_login_at = clock.now()
    audit.record(session, principal_of(user), "login", [None])


def sign_out(session: Session, user_id: int) -> None:
    """Logout ends this session and every copy of its cookie (all of the account's)."""
    user = session.get(User, user_id, with_for_update=True)
    if user is not None:
        end_sessions(session, user)
