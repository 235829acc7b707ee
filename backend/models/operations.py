"""Operational records: officers' checks, background jobs, idempotent responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, DateTime, Integer, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class OfficerCheck(Base):
    """One on-the-spot check by a field officer, kept with its place and time."""

    __tablename__ = "officer_checks"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_id: Mapped[int] = mapped_column(Integer)
    # 0 when the check found nobody (NOBODY): every check has a shard (migration 0016).
    person_id: Mapped[int] = mapped_column(BigInteger)
    query_kind: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    region_kato: Mapped[str | None] = mapped_column(String(9))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # A check queued offline on the phone (migration 0022): the phone's time and verdict,
    # and the outbox item's key.
    device_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    offline_verdict: Mapped[str | None] = mapped_column(String(32))
    client_key: Mapped[str | None] = mapped_column(String(64))


class Job(Base):
    """A background job's status row, keyed by the RQ job id."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    owner_token_id: Mapped[int | None] = mapped_column(Integer)
    owner_user_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotentResponse(Base):
    """The first response to a write sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotent_responses"
    # Who sent it (``user:<id>`` or ``token:<id>``) and to which route (method endpoint).
    caller: Mapped[str] = mapped_column(String(40), primary_key=True)
    route: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(SmallInteger)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ImportFile(Base):
    """A CSV uploaded for bulk import."""

    __tablename__ = "import_files"
    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(BYTEA)
    token_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CredentialStatusList(Base):
    """The latest signed token of one status list (migration 0022), republished by a job
    when the permits' or registrations' statuses change."""

    __tablename__ = "credential_status_lists"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    lst: Mapped[str] = mapped_column(Text)
    entries: Mapped[int] = mapped_column(BigInteger)
    compressed_bytes: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
