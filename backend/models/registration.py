"""Registration at a place of residence or stay (регистрация по месту жительства/пребывания)."""

from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class Registration(Base):
    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(Text)
    region_kato: Mapped[str] = mapped_column(String(9))
    settlement_kato: Mapped[str | None] = mapped_column(String(9))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    # Set when a newer registration of the same kind replaced this one.
    ended_on: Mapped[date | None] = mapped_column(Date)
    # A foreigner's arrival, who notified, and whether the notice came after the deadline
    # in force on the arrival day (docs/domain.md rule 8).
    arrived_on: Mapped[date | None] = mapped_column(Date)
    notified_by: Mapped[str | None] = mapped_column(String(8))
    late_registration: Mapped[bool] = mapped_column(Boolean, default=False)
    source_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
