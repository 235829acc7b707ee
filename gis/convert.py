"""Geometry conversion between PostGIS values and API shapes, in one place."""

from __future__ import annotations

from typing import Any

from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import to_shape


def point_element(lon: float, lat: float) -> WKTElement:
    """A WGS 84 point ready to be stored in a geometry(Point, 4326) column."""
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=4326)


def latlon(geom: WKBElement | None) -> dict[str, float] | None:
    """``{"lat", "lon"}`` of a stored point, as the API speaks it."""
    if geom is None:
        return None
    point: Any = to_shape(geom)
    return {"lat": point.y, "lon": point.x}
