"""Import districts (GeoJSON or shapefile) keyed by KATO into PostGIS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import shapefile  # pyshp
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.validation import make_valid
from sqlalchemy import Connection, text

KATO_KEYS = ("kato", "KATO", "kato_code", "KATO_CODE", "te", "TE")
NAME_KEYS = ("name", "NAME", "name_ru", "NAME_RU", "name_en", "NAME_EN", "ADM2_EN")


class DistrictFileError(ValueError):
    """The file cannot be imported; the message names the feature and the problem."""


def _features(path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix in {".geojson", ".json"}:
        data = json.loads(path.read_text(encoding="utf-8"))
        for feature in data.get("features", []):
            yield feature.get("properties") or {}, feature.get("geometry") or {}
    elif suffix == ".shp":
        with shapefile.Reader(str(path)) as reader:
            for rec in reader.iterShapeRecords():
                yield rec.record.as_dict(), rec.shape.__geo_interface__
    else:
        raise DistrictFileError(f"{path.name}: expected .geojson, .json or .shp")


def _first(props: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if props.get(key) not in (None, ""):
            return str(props[key]).strip()
    return None


def _as_multipolygon(geom: Any) -> MultiPolygon:
    fixed = make_valid(geom)
    polys = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, Polygon | MultiPolygon)]
    parts: list[Polygon] = []
    for p in polys:
        parts.extend(p.geoms if isinstance(p, MultiPolygon) else [p])
    if not parts:
        raise ValueError("no polygon area")
    return MultiPolygon(parts)


def import_districts(conn: Connection, path: Path) -> int:
    """Upsert every feature as a district; the region comes from the KATO's first two digits."""
    rows = []
    for index, (props, geometry) in enumerate(_features(path)):
        kato = _first(props, KATO_KEYS)
        if not kato or not kato.isdigit() or len(kato) != 9:
            raise DistrictFileError(f"feature {index}: KATO must be 9 digits, got {kato!r}")
        try:
            geom = _as_multipolygon(shape(geometry))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise DistrictFileError(f"feature {index} ({kato}): bad geometry: {exc}") from exc
        rows.append(
            {
                "kato": kato,
                "region": kato[:2] + "0000000",
                "name": _first(props, NAME_KEYS) or kato,
                "geojson": json.dumps(mapping(geom)),
            }
        )
    known = set(conn.execute(text("SELECT kato FROM regions")).scalars())
    for row in rows:
        if row["region"] not in known:
            raise DistrictFileError(f"district {row['kato']}: region {row['region']} is not loaded")
    if rows:
        conn.execute(
            text(
                """
                INSERT INTO districts (kato, region_kato, name, geom)
                VALUES (:kato, :region, :name, ST_SetSRID(ST_GeomFromGeoJSON(:geojson), 4326))
                ON CONFLICT (kato) DO UPDATE SET region_kato = EXCLUDED.region_kato,
                    name = EXCLUDED.name, geom = EXCLUDED.geom
                """
            ),
            rows,
        )
        conn.execute(
            text(
                """
                UPDATE settlements s SET district_kato = d.kato
                FROM districts d
                WHERE d.region_kato = s.region_kato AND ST_Intersects(d.geom, s.geom)
                """
            )
        )
    return len(rows)
