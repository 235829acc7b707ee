"""Employers, labour-immigrant permits ("patents") and early-termination notices."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base

PERMIT_STATUSES = ("active", "expired", "terminated", "revoked")


class Employer(Base):
    __tablename__ = "employers"
    bin: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Permit(Base):
    """Разрешение трудовому иммигранту (патент): valid only in the region that issued it."""

    __tablename__ = "permits"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    employer_bin: Mapped[str | None] = mapped_column(ForeignKey("employers.bin"))
    region_kato: Mapped[str] = mapped_column(String(9))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PermitExtension(Base):
    __tablename__ = "permit_extensions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permits.id", ondelete="CASCADE"))
    previous_valid_to: Mapped[date] = mapped_column(Date)
    new_valid_to: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TerminationNotice(Base):
    """Employer's notice that a permit holder stopped working early (action 17)."""

    __tablename__ = "termination_notices"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    permit_id: Mapped[int] = mapped_column(
        ForeignKey("permits.id", ondelete="CASCADE"), unique=True
    )
    employer_bin: Mapped[str] = mapped_column(ForeignKey("employers.bin"))
    last_working_day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean)
    deadline: Mapped[date] = mapped_column(Date)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
