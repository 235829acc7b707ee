"""Reference geography keyed by KATO: regions, districts, settlements."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class Region(Base):
    """Oblast or city of republican significance (область / облыс)."""

    __tablename__ = "regions"
    kato: Mapped[str] = mapped_column(String(9), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(100))
    name_ru: Mapped[str] = mapped_column(String(100))
    name_kk: Mapped[str] = mapped_column(String(100))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)


class RegionPart(Base):
    """A region polygon cut by ST_Subdivide so point-in-region tests stay cheap."""

    __tablename__ = "region_parts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_kato: Mapped[str] = mapped_column(ForeignKey("regions.kato", ondelete="CASCADE"))
    geom = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False)


class District(Base):
    """District or city of regional significance (район / аудан)."""

    __tablename__ = "districts"
    kato: Mapped[str] = mapped_column(String(9), primary_key=True)
    region_kato: Mapped[str] = mapped_column(ForeignKey("regions.kato"))
    name: Mapped[str] = mapped_column(String(200))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False)


class Settlement(Base):
    """A populated place (населённый пункт / елді мекен) as a point."""

    __tablename__ = "settlements"
    kato: Mapped[str] = mapped_column(String(9), primary_key=True)
    region_kato: Mapped[str] = mapped_column(ForeignKey("regions.kato"))
    district_kato: Mapped[str | None] = mapped_column(String(9))
    name: Mapped[str] = mapped_column(String(200))  # GeoNames Latin: the fallback
    name_ru: Mapped[str | None] = mapped_column(String(200))
    name_kk: Mapped[str | None] = mapped_column(String(200))
    names_source: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    geom = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=False)
