"""Movement traces, last positions, daily presence and the alerts they raise."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Date, DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base
from backend.models.registries import URGENT_ALERT_KINDS


class TracePoint(Base):
    """One location fix of a monitored person; partitioned by day of ``recorded_at``."""

    __tablename__ = "trace_points"
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float)
    bearing_deg: Mapped[float | None] = mapped_column(Float)
    altitude_m: Mapped[float | None] = mapped_column(Float)
    battery_pct: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    flags: Mapped[list[str] | None] = mapped_column(ARRAY(Text))


class TraceRefusal(Base):
    """What a phone sent that could not be stored; the phone itself was answered 2xx."""

    __tablename__ = "trace_refusals"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    client: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)


class TraceLastPosition(Base):
    __tablename__ = "trace_last_positions"
    person_id: Mapped[int] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True
    )
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
    accuracy_m: Mapped[float | None] = mapped_column(Float)


class DailyPresence(Base):
    """Where a person was on a day: kept for indicators after raw points expire."""

    __tablename__ = "daily_presence"
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    region_kato: Mapped[str] = mapped_column(String(9), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertDirty(Base):
    __tablename__ = "alert_dirty"
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    region_kato: Mapped[str | None] = mapped_column(String(9))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def urgent(self) -> bool:
        return self.kind in URGENT_ALERT_KINDS
