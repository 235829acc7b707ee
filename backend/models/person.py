"""Persons of the register and the serial counters used to allocate IINs."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Boolean, Date, DateTime, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base

if TYPE_CHECKING:
    from backend.models.permit import Permit
    from backend.models.registration import Registration


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), unique=True)
    iin_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    surname: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    citizenship: Mapped[str] = mapped_column(String(3))
    category: Mapped[str] = mapped_column(String(32))
    document_type: Mapped[str | None] = mapped_column(String(32))
    document_number: Mapped[str | None] = mapped_column(String(32))
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # A kandas who chose permanent residence on general terms: no quota, no support, no
    # obligation and no settlement alerts (seed 003, docs/domain.md rule 6).
    general_terms_on: Mapped[date | None] = mapped_column(Date)
    source_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # The person card: current registrations (permanent first) and permits, newest first.
    current_registrations: Mapped[list[Registration]] = relationship(
        primaryjoin="and_(Person.id == Registration.person_id, Registration.ended_on.is_(None))",
        order_by="Registration.kind",
        viewonly=True,
    )
    permits: Mapped[list[Permit]] = relationship(order_by="Permit.valid_to.desc()", viewonly=True)


class RegisterKey(Base):
    """A key unique across the whole register (an IIN, an imported person row's source
    key), claimed for one person: unique whichever node holds the person (migration 0016,
    backend/services/register_keys.py)."""

    __tablename__ = "register_keys"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IinSerial(Base):
    """Next free serial per (birth date, century/sex digit) for generated IINs."""

    __tablename__ = "iin_serials"
    birth_date: Mapped[date] = mapped_column(Date, primary_key=True)
    century_sex: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    next_serial: Mapped[int] = mapped_column(SmallInteger)
