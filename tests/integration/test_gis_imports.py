"""Importing districts and settlement indicators from files, through the CLI."""

import json
from typing import Any

from sqlalchemy import text

from tests import helpers as h


def test_import_districts_geojson(db: Any, tmp_path: Any, migrated: Any) -> None:
    square = {
        "type": "Polygon",
        "coordinates": [[[76.8, 52.2], [77.1, 52.2], [77.1, 52.4], [76.8, 52.4], [76.8, 52.2]]],
    }
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[76.0, 52.0], [76.2, 52.2], [76.2, 52.0], [76.0, 52.2], [76.0, 52.0]]],
    }
    path = tmp_path / "districts.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"kato": "551010000", "name": "г. Павлодар"},
                        "geometry": square,
                    },
                    {
                        "type": "Feature",
                        "properties": {"KATO": "552010000", "NAME": "Самоперес."},
                        "geometry": bowtie,
                    },
                ],
            }
        )
    )
    try:
        out = h.qonys("gis", "import-districts", str(path))
        assert out.returncode == 0, out.stderr
        assert "districts: 2" in out.stdout
        with db.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT kato, region_kato, ST_IsValid(geom) FROM districts ORDER BY kato")
            ).all()
            assert [tuple(r) for r in rows] == [
                ("551010000", "550000000", True),
                ("552010000", "550000000", True),
            ]
            pavlodar = conn.execute(
                text("SELECT district_kato FROM settlements WHERE name = 'Pavlodar'")
            ).scalar()
        assert pavlodar == "551010000"
        bad = tmp_path / "bad.geojson"
        bad.write_text(
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {"type": "Feature", "properties": {"kato": "12"}, "geometry": square}
                    ],
                }
            )
        )
        failed = h.qonys("gis", "import-districts", str(bad))
        assert failed.returncode != 0 and "9 digits" in failed.stderr
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE settlements SET district_kato = NULL"))
            conn.execute(text("DELETE FROM districts"))


def test_import_indicators_csv(db: Any, tmp_path: Any, migrated: Any) -> None:
    with db.engine.connect() as conn:
        katos = (
            conn.execute(text("SELECT kato FROM settlements ORDER BY kato LIMIT 2")).scalars().all()
        )
    path = tmp_path / "indicators.csv"
    path.write_text(
        "kato,labour_demand,school,clinic,housing,transport,population_trend,as_of\n"
        f"{katos[0]},1.4,да,нет,yes,1,-0.5,2026-10-01\n"
        f"{katos[1]},0.3,иә,жоқ,no,0,2.0,2026-10-01\n",
        encoding="utf-8",
    )
    out = h.qonys("gis", "import-indicators", str(path), "--source", "Минтруда, 2026")
    assert out.returncode == 0, out.stderr
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT settlement_kato, has_school, has_clinic, has_housing, has_transport, source"
                " FROM settlement_indicators ORDER BY 1"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (katos[0], True, False, True, True, "Минтруда, 2026"),
        (katos[1], True, False, False, False, "Минтруда, 2026"),
    ]
    path.write_text(
        "kato,labour_demand,school,clinic,housing,transport,population_trend\n999999999,1,1,1,1,1,1\n"
    )
    failed = h.qonys("gis", "import-indicators", str(path))
    assert failed.returncode != 0 and "unknown settlement" in failed.stderr
