"""Kandas and resettler settlement: quotas, lists, indicators, applications, obligations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class Quota(Base):
    """Regional quota for admitting kandas and resettlers (people) in a year, or over a
    medium-term period from ``year`` through ``through_year`` (seed 004 p. 4)."""

    __tablename__ = "quotas"
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    region_kato: Mapped[str] = mapped_column(ForeignKey("regions.kato"), primary_key=True)
    kandas: Mapped[int] = mapped_column(Integer)
    resettlers: Mapped[int] = mapped_column(Integer)
    # The period's last year; NULL is a one-year quota.
    through_year: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SettlementListEntry(Base):
    """A settlement open for resettlement in a year (список населённых пунктов)."""

    __tablename__ = "settlement_lists"
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    settlement_kato: Mapped[str] = mapped_column(ForeignKey("settlements.kato"), primary_key=True)
    region_kato: Mapped[str] = mapped_column(ForeignKey("regions.kato"))
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class SettlementIndicators(Base):
    __tablename__ = "settlement_indicators"
    settlement_kato: Mapped[str] = mapped_column(ForeignKey("settlements.kato"), primary_key=True)
    labour_demand: Mapped[float] = mapped_column(Float)
    has_school: Mapped[bool] = mapped_column(Boolean)
    has_clinic: Mapped[bool] = mapped_column(Boolean)
    has_housing: Mapped[bool] = mapped_column(Boolean)
    has_transport: Mapped[bool] = mapped_column(Boolean)
    has_kindergarten: Mapped[bool | None] = mapped_column(Boolean)  # None: not known
    has_utilities: Mapped[bool | None] = mapped_column(Boolean)
    population_trend: Mapped[float] = mapped_column(Float)
    as_of: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seed 004 p. 2(7): intra-regional resettlement runs from a village (not urban) of low
    # economic potential to a town. None: not known.
    is_urban: Mapped[bool | None] = mapped_column(Boolean)
    low_potential: Mapped[bool | None] = mapped_column(Boolean)


class SettlementApplication(Base):
    """An accepted application: the place of arrival is fixed here."""

    __tablename__ = "settlement_applications"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    family_size: Mapped[int] = mapped_column(SmallInteger)
    year: Mapped[int] = mapped_column(SmallInteger)
    region_kato: Mapped[str] = mapped_column(ForeignKey("regions.kato"))
    settlement_kato: Mapped[str] = mapped_column(ForeignKey("settlements.kato"))
    status: Mapped[str] = mapped_column(String(16), default="admitted")
    direction: Mapped[str] = mapped_column(String(16), default="interregional")
    origin_region_kato: Mapped[str | None] = mapped_column(String(9))
    # The day of admission when recorded late (else the day it was accepted).
    admitted_on: Mapped[date | None] = mapped_column(Date)
    # An intra-regional move (seed 004 p. 2(7)): from where, the housing and the job.
    origin_settlement_kato: Mapped[str | None] = mapped_column(String(9))
    housing: Mapped[str | None] = mapped_column(Text)
    job: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class SettlementObligation(Base):
    """The family's 5-year obligation to stay, or return all support received."""

    __tablename__ = "settlement_obligations"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(ForeignKey("settlement_applications.id"))
    region_kato: Mapped[str] = mapped_column(ForeignKey("regions.kato"))
    settlement_kato: Mapped[str] = mapped_column(ForeignKey("settlements.kato"))
    family_size: Mapped[int] = mapped_column(SmallInteger)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="active")
    breach_detected_on: Mapped[date | None] = mapped_column(Date)
    breach_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    amount_due_kzt: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str | None] = mapped_column(String(16))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Separation of duties: the first administrator's confirmation waits for a second.
    confirmation_by: Mapped[str | None] = mapped_column(String(64))
    confirmation_reason: Mapped[str | None] = mapped_column(Text)
    confirmation_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The housing-subsidy plan: paid month by month while the obligation is active.
    subsidy_mrp_per_month: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    subsidy_months: Mapped[int | None] = mapped_column(SmallInteger)
    # The social contract (seed 003), the basis of any repayment.
    contract_number: Mapped[str | None] = mapped_column(String(40))
    contract_signed_on: Mapped[date | None] = mapped_column(Date)
    contract_terms: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    support_promised: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The repayment claim: departure dated by evidence, the computed lines, the issuer.
    claim_status: Mapped[str | None] = mapped_column(String(16))
    departed_on: Mapped[date | None] = mapped_column(Date)
    claim_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    claim_issued_by: Mapped[str | None] = mapped_column(String(64))
    claim_issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SupportPayment(Base):
    __tablename__ = "support_payments"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The obligation's person: the row lives on the person's shard (migration 0016).
    person_id: Mapped[int] = mapped_column(BigInteger)
    obligation_id: Mapped[int] = mapped_column(
        ForeignKey("settlement_obligations.id", ondelete="CASCADE")
    )
    item: Mapped[str] = mapped_column(String(32))
    amount_mrp: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    mrp_year: Mapped[int | None] = mapped_column(SmallInteger)
    amount_kzt: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    paid_on: Mapped[date] = mapped_column(Date)
    installment: Mapped[int | None] = mapped_column(SmallInteger)


class MapArtifact(Base):
    __tablename__ = "map_artifacts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(64))
    html: Mapped[bytes] = mapped_column(LargeBinary)
    bytes: Mapped[int] = mapped_column(Integer)
    gzip_bytes: Mapped[int] = mapped_column(Integer)
    data_date: Mapped[date] = mapped_column(Date)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
