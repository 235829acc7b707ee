from typing import Any

import pytest
from sqlalchemy import text

from gis.locate import locate_point, region_at
from gis.reference import load_reference

# City centre → KATO of the region it must fall in (point-in-region in PostGIS).
CITIES = [
    ("Astana", 51.128, 71.430, "710000000"),
    ("Almaty", 43.238, 76.889, "750000000"),
    ("Shymkent", 42.317, 69.596, "790000000"),
    ("Pavlodar", 52.287, 76.967, "550000000"),
    ("Aktobe", 50.283, 57.167, "150000000"),
    ("Oskemen", 49.948, 82.628, "630000000"),
    ("Semey", 50.411, 80.227, "100000000"),
    ("Taldykorgan", 45.017, 78.373, "330000000"),
    ("Zhezkazgan", 47.783, 67.767, "620000000"),
    ("Turkistan", 43.297, 68.252, "610000000"),
    ("Kostanay", 53.214, 63.624, "390000000"),
    ("Atyrau", 47.107, 51.914, "230000000"),
]


@pytest.mark.parametrize(("city", "lat", "lon", "kato"), CITIES, ids=[c[0] for c in CITIES])
def test_city_falls_in_its_region(db: Any, city: str, lat: float, lon: float, kato: str) -> None:
    with db.engine.connect() as conn:
        assert region_at(conn, lon, lat) == kato


@pytest.mark.parametrize(("lat", "lon"), [(42.875, 74.570), (55.75, 37.62), (41.31, 69.28)])
def test_points_abroad_have_no_region(db: Any, lat: float, lon: float) -> None:
    with db.engine.connect() as conn:
        assert region_at(conn, lon, lat) is None


def test_twenty_valid_regions_with_designations(db: Any, migrated: Any) -> None:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT count(*), bool_and(ST_IsValid(geom)), bool_and(ST_SRID(geom) = 4326),"
                " count(*) FILTER (WHERE kato IN (SELECT jsonb_array_elements_text(value)"
                "  FROM policy_parameters WHERE name = 'designated_areas')) FROM regions"
            )
        ).one()
        # The eight regions of seed 003 (docs/domain.md rule 1), designated by policy data.
        assert tuple(rows) == (20, True, True, 8)
        parts = conn.execute(
            text("SELECT count(DISTINCT region_kato), count(*) FROM region_parts")
        ).one()
        assert parts[0] == 20 and parts[1] > 20
        gist = conn.execute(
            text("SELECT count(*) FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'")
        ).scalar_one()
        assert gist >= 4


def test_settlements_assigned_by_polygon_with_kato_prefix(db: Any) -> None:
    with db.engine.connect() as conn:
        total, misplaced, prefix_wrong = conn.execute(
            text(
                """
                SELECT count(*),
                       count(*) FILTER (WHERE NOT EXISTS (
                           SELECT 1 FROM regions r WHERE r.kato = s.region_kato
                             AND ST_DWithin(r.geom::geography, s.geom::geography, 20000))),
                       count(*) FILTER (WHERE substr(kato, 1, 2) <> substr(region_kato, 1, 2))
                FROM settlements s
                """
            )
        ).one()
        assert total > 200 and misplaced == 0 and prefix_wrong == 0
        place = locate_point(conn, 76.95, 52.29)
        assert place is not None and place.region_kato == "550000000"
        name = conn.execute(
            text("SELECT name FROM settlements WHERE kato = :k"), {"k": place.settlement_kato}
        ).scalar_one()
        assert name == "Pavlodar"


def test_load_reference_twice_is_stable(db: Any, migrated: Any) -> None:
    with db.engine.connect() as conn:
        before = conn.execute(
            text("SELECT array_agg(kato ORDER BY kato) FROM settlements")
        ).scalar()
    load_reference(db.engine)
    with db.engine.connect() as conn:
        after = conn.execute(text("SELECT array_agg(kato ORDER BY kato) FROM settlements")).scalar()
    assert before == after
