"""Time and size of the kandas settlement map, next to a naive Folium build of the same data.

    python -m bench.map

Two cases: the 20 regions with every loaded settlement, and a large one with 200
districts and 7,000 settlements of generated geometry (Voronoi cells clipped to the
regions, random points inside them, made in PostGIS in the bench database). Ours
simplifies geometry in PostGIS and creates clustered markers in the browser from one
compact array; the naive build uses unsimplified full-precision GeoJSON and one Folium
CircleMarker with a Popup per settlement. Both are measured in the same run.
"""

from __future__ import annotations

import gzip
import json
import random
import time
from datetime import date
from typing import Any

import folium
from sqlalchemy import text

from backend.services.monitoring.maps import DISTRICT_TOLERANCE, GEOJSON_DIGITS, map_data
from backend.settings import Settings
from bench.common import bench_database_url
from bench.gen_register import prepare
from maps.kandas import COMPONENTS, MapData, SettlementPoint, Unit, build_map

ZONES = "ABCD"


def _components(rng: random.Random) -> dict[str, dict[str, Any]]:
    return {
        c: {"value": round(rng.random(), 3), "points": round(rng.random() * 25, 2)}
        for c in COMPONENTS
    }


def large_case(
    database: Any, base: MapData, districts: int = 200, settlements: int = 7000
) -> tuple[MapData, dict[str, Any]]:
    """Generated districts (raw and simplified geometry) and settlements."""
    rng = random.Random(5)
    with database.engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                WITH seeds AS (
                    SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), :d, 42))).geom AS g FROM regions
                ), cells AS (
                    SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(g)))).geom AS cell FROM seeds
                ), clipped AS (
                    SELECT row_number() OVER () AS n, r.kato AS region,
                           ST_Multi(ST_CollectionExtract(ST_Intersection(c.cell, r.geom), 3)) AS geom
                    FROM cells c JOIN regions r ON ST_Intersects(c.cell, r.geom)
                )
                SELECT n, region, ST_AsGeoJSON(geom) AS raw,
                       ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tol), :digits) AS simple
                FROM clipped WHERE NOT ST_IsEmpty(geom) ORDER BY n LIMIT :d
                """
            ),
            {"d": districts, "tol": DISTRICT_TOLERANCE, "digits": GEOJSON_DIGITS},
        ).all()
        points = conn.execute(
            text(
                """
                SELECT r.kato, ST_Y(p.geom), ST_X(p.geom) FROM regions r,
                LATERAL ST_Dump(ST_GeneratePoints(r.geom, CAST(:n / 20 AS int), 7)) p
                """
            ),
            {"n": settlements},
        ).all()
    raw_districts = []
    units = []
    for n, region, raw, simple in rows:
        kato = f"{region[:2]}{n:03d}0000"
        zone = rng.choice(ZONES)
        names = {"ru": f"Район {n}", "kk": f"{n} аудан", "en": f"District {n}"}
        score, comps = round(rng.random() * 100, 2), _components(rng)
        units.append(Unit(kato, names, json.loads(simple), zone, score, comps, []))
        raw_districts.append(Unit(kato, names, json.loads(raw), zone, score, comps, []))
    pts = [
        SettlementPoint(
            f"{region[:2]}{i:07d}",
            f"Пункт {i}",
            region,
            lat,
            lon,
            rng.choice(ZONES),
            round(rng.random() * 100, 2),
            _components(rng),
            [],
            rng.random() < 0.7,
            i + 1,
        )
        for i, (region, lat, lon) in enumerate(points)
    ]
    data = MapData(base.year, base.data_date, base.regions, pts, units, base.sources, True)
    return data, {"districts": raw_districts}


def naive_build(data: MapData, raw_regions: dict[str, Any], raw_districts: list[Unit]) -> str:
    """What a first Folium map would do: full geometry, one marker object per settlement."""
    fmap = folium.Map(location=[48.0, 67.5], zoom_start=5)
    folium.GeoJson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": raw_regions[r.kato],
                    "properties": {"name": r.names["ru"], "zone": r.zone},
                }
                for r in data.regions
            ],
        },
        name="Области",
        tooltip=folium.GeoJsonTooltip(["name", "zone"]),
    ).add_to(fmap)
    if raw_districts:
        folium.GeoJson(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": d.geometry,
                        "properties": {"name": d.names["ru"], "zone": d.zone},
                    }
                    for d in raw_districts
                ],
            },
            name="Районы",
        ).add_to(fmap)
    for s in data.settlements:
        rows = "".join(
            f"<tr><td>{c}</td><td>{s.components[c]['points']}</td></tr>" for c in COMPONENTS
        )
        folium.CircleMarker(
            [s.lat, s.lon],
            radius=5,
            color="#333",
            fill=True,
            popup=folium.Popup(
                f"<b>{s.name}</b><br>Зона {s.zone}, балл {s.score}<table>{rows}</table>"
            ),
        ).add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap.get_root().render()


def _measure(build: Any) -> tuple[float, int, int]:
    started = time.perf_counter()
    html = build().encode("utf-8")
    seconds = time.perf_counter() - started
    return seconds, len(html), len(gzip.compress(html, 6))


def main() -> None:
    url = bench_database_url()
    database = prepare(url)
    settings = Settings.from_env(database_url=url)
    with database.transaction() as session:
        started = time.perf_counter()
        real = map_data(session, settings, date.today().year)
        query_s = time.perf_counter() - started
        raw_regions = {
            k: json.loads(g)
            for k, g in session.execute(text("SELECT kato, ST_AsGeoJSON(geom) FROM regions"))
        }
    large, raw = large_case(database, real)
    cases = [
        (f"20 regions, {len(real.settlements)} settlements", real, []),
        (
            f"20 regions, {len(large.districts)} districts, {len(large.settlements)} settlements",
            large,
            raw["districts"],
        ),
    ]
    print(f"map data gathered from PostGIS (zones, simplified geometry) in {query_s:.2f} s")
    print(f"{'case':52} {'build':>12} {'seconds':>8} {'raw MB':>8} {'gzip MB':>8}")
    for name, data, raw_districts in cases:
        ours = _measure(lambda data=data: build_map(data))
        naive = _measure(lambda data=data, rd=raw_districts: naive_build(data, raw_regions, rd))
        for label, (secs, size, gz) in (("ours", ours), ("naive", naive)):
            print(f"{name:52} {label:>12} {secs:8.2f} {size / 1e6:8.2f} {gz / 1e6:8.3f}")
        print(
            f"{'':52} {'ours/naive':>12} {ours[0] / naive[0]:8.2f} {ours[1] / naive[1]:8.2f} {ours[2] / naive[2]:8.3f}"
        )
    print("targets for the large case: under 5 s and under 2 MB gzipped")


if __name__ == "__main__":
    main()
