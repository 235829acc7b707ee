"""Policy parameters: legal numbers with the day each value takes effect."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Date, DateTime, ForeignKey, Numeric, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class PolicyParameter(Base):
    """One value of a parameter, in force from ``effective_from`` until the next one."""

    __tablename__ = "policy_parameters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Preselection(Base):
    """A residence-permit applicant's pre-selection: parts, score, decision and reasons."""

    __tablename__ = "preselections"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    parts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB)
    threshold: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    decision: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
