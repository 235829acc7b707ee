"""Persons of the register and the serial counters used to allocate IINs."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, SmallInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base

if TYPE_CHECKING:
    from backend.models.permit import Permit
    from backend.models.registration import Registration


class Person(Base):
    __tablename__ = "persons"
    # duplicate_candidates and answered_for below are plain attributes, not columns.
    __allow_unmapped__ = True
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
    # The names as documents carry them: Cyrillic as on a Kazakh document, Latin as in
    # the passport and its MRZ; either may be missing (``surname``/``given_name`` are
    # the names as first entered).
    surname_cyrillic: Mapped[str | None] = mapped_column(String(100))
    given_name_cyrillic: Mapped[str | None] = mapped_column(String(100))
    patronymic_cyrillic: Mapped[str | None] = mapped_column(String(100))
    surname_latin: Mapped[str | None] = mapped_column(String(100))
    given_name_latin: Mapped[str | None] = mapped_column(String(100))
    # The document number as compared (backend.identifiers.document_key) and the
    # surname's skeleton (backend.services.identity.names.name_key): the keys a match blocks on.
    document_key: Mapped[str | None] = mapped_column(String(32))
    name_key: Mapped[str] = mapped_column(String(100), default="")
    # A duplicate merged into another person: reads answer with the survivor.
    merged_into: Mapped[int | None] = mapped_column(BigInteger)
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # A kandas who chose permanent residence on general terms: no quota, no support, no
    # obligation and no settlement alerts (seed 003, docs/domain.md rule 6).
    general_terms_on: Mapped[date | None] = mapped_column(Date)
    source_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # Set on a person just created: the likely duplicates found (services/identity/duplicates.py).
    duplicate_candidates: list[Any] = []
    # Set on a survivor read through the id of a person merged into it.
    answered_for: int | None = None

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
    backend/services/register/register_keys.py)."""

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


class DuplicateReview(Base):
    """A likely duplicate for an admin to decide: the pair (lower id first), its score
    and reasons, and the decision (``same`` merges, ``different`` is remembered)."""

    __tablename__ = "duplicate_reviews"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    candidate_id: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    status: Mapped[str] = mapped_column(String(16), default="open")
    decided_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PersonMerge(Base):
    """One merge: which rows moved from the merged person to the survivor, for undo."""

    __tablename__ = "person_merges"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(BigInteger)
    merged_id: Mapped[int] = mapped_column(BigInteger)
    review_id: Mapped[int | None] = mapped_column(BigInteger)
    moved: Mapped[dict[str, Any]] = mapped_column(JSONB)
    merged_by: Mapped[str] = mapped_column(String(200))
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
