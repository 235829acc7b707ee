"""API tokens and the append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class ApiToken(Base):
    """A bearer token; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    employer_bin: Mapped[str | None] = mapped_column(String(12))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    region_kato: Mapped[str | None] = mapped_column(String(9))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A device's last contact, fix or not (written at most once a minute).
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owntracks_key: Mapped[str | None] = mapped_column(Text)
    # The person the token belongs to (see :attr:`Principal.person`).
    owner: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Who did what to whose data, when and why. The database refuses UPDATE/DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    subject_person_id: Mapped[int | None] = mapped_column(BigInteger)
    purpose: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(UUID(as_uuid=False))
    # What the client said its request was (kept apart from the server's own id).
    client_request_id: Mapped[str | None] = mapped_column(String(100))
    # sha256 of the row's content, set by the database (migration 0014); chained by seals.
    row_hash: Mapped[bytes | None] = mapped_column(LargeBinary)


class User(Base):
    """A person who signs in with a browser: a role, a scope, a password and maybe TOTP."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    region_kato: Mapped[str | None] = mapped_column(String(9))
    employer_bin: Mapped[str | None] = mapped_column(String(12))
    password_hash: Mapped[str] = mapped_column(Text)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of the session cookie's user id: bumping it ends every session of the account.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    # The last TOTP time step accepted: a code counts once.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Where and how notifications reach the account (issue 26, backend/services/notify/notify.py).
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(2), default="ru")
    alert_delivery: Mapped[str] = mapped_column(String(16), default="immediately")
    report_schedule: Mapped[str | None] = mapped_column(String(16))
    report_region_kato: Mapped[str | None] = mapped_column(String(9))
    report_last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SigninThrottle(Base):
    """Failed sign-ins and back-off for one key: (keyed username hash, address) or address."""

    __tablename__ = "signin_throttle"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
