"""Employers, labour-immigrant permits ("patents") and early-termination notices."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import literal_column

from backend.models.base import Base

if TYPE_CHECKING:
    from backend.models.person import Person


def permit_in_force(status: Any, valid_from: Any, valid_to: Any, today: Any) -> Any:
    """The one definition of "a permit in force on ``today``".

    Works on Python values (a bool) and on SQL columns (a clause): the ORM uses it through
    :meth:`Permit.in_force`, SQL text through :func:`permit_in_force_sql`, and code holding
    plain values calls it directly.
    """
    return (status == "active") & (valid_from <= today) & (valid_to >= today)


def permit_in_force_sql(alias: str) -> str:
    """The same rule as SQL text over table alias ``alias``, with a ``:today`` parameter."""
    clause = permit_in_force(
        literal_column(f"{alias}.status"),
        literal_column(f"{alias}.valid_from"),
        literal_column(f"{alias}.valid_to"),
        literal_column(":today"),
    )
    return str(clause.compile(dialect=PGDialect(), compile_kwargs={"literal_binds": True}))


def permit_was_in_force_sql(alias: str, day: str = ":today") -> str:
    """A permit in force on a *past* ``day`` (SQL: a parameter or a column), for history:
    one that has expired since was in force then, and a terminated one until the last
    working day its notice gave."""
    return (
        f"({alias}.valid_from <= {day} AND {alias}.valid_to >= {day} AND ("
        f"{alias}.status IN ('active', 'expired') OR ({alias}.status = 'terminated' AND "
        f"EXISTS (SELECT 1 FROM termination_notices n WHERE n.person_id = {alias}.person_id "
        f"AND n.permit_id = {alias}.id AND n.last_working_day >= {day}))))"
    )


class Employer(Base):
    __tablename__ = "employers"
    bin: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    # "firm": ``bin`` is a BIN; "household": a private person, ``bin`` holds their IIN.
    kind: Mapped[str] = mapped_column(String(10), default="firm")
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

    holder: Mapped[Person] = relationship(viewonly=True, lazy="raise")

    @hybrid_method
    def in_force(self, today: date) -> Any:
        return permit_in_force(self.status, self.valid_from, self.valid_to, today)


class PermitExtension(Base):
    __tablename__ = "permit_extensions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The holder: the row lives on the person's shard (migration 0016).
    person_id: Mapped[int] = mapped_column(BigInteger)
    permit_id: Mapped[int] = mapped_column(ForeignKey("permits.id", ondelete="CASCADE"))
    previous_valid_to: Mapped[date] = mapped_column(Date)
    new_valid_to: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TerminationNotice(Base):
    """Employer's notice that a permit holder stopped working early (action 17)."""

    __tablename__ = "termination_notices"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    permit_id: Mapped[int] = mapped_column(
        ForeignKey("permits.id", ondelete="CASCADE"), unique=True
    )
    employer_bin: Mapped[str] = mapped_column(ForeignKey("employers.bin"))
    last_working_day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean)
    deadline: Mapped[date] = mapped_column(Date)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    permit: Mapped[Permit] = relationship(lazy="joined")
