"""Settlement names in Russian and Kazakh (issue 23): the matching rule of
gis/settlement_names.py on hand-made places, the names it gave the loaded GeoNames
settlements, and the names in OGC output with the Latin name as the fallback."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from gis.settlement_names import (
    NAMES_SOURCE,
    Place,
    choose_names,
    match_place,
    names_for,
    romanize,
    script,
    skeleton,
)

CYRILLIC = re.compile("[\u0400-\u04ff]")


def test_skeleton_and_romanization_agree_on_kazakh_spellings() -> None:
    assert skeleton("Qaraghandy") == skeleton("Karagandy")
    assert skeleton("Dzhambul") == skeleton("Zhambul")
    assert skeleton("Kapshagaj") == skeleton("Kapshagay")
    assert skeleton(romanize("Қарағанды")) == skeleton("Qaraghandy")
    assert skeleton(romanize("Шымкент")) == skeleton("Shymkent")


def test_script_admits_russian_and_kazakh_cyrillic_only() -> None:
    assert script("Жанаозен") == "ru"
    assert script("Жаңаөзен") == "kk"
    assert script("Усть-Таловка") == "ru"
    assert script("Kˌұrmangazy") is None  # mixed with Latin
    assert script("Җимбе") is None  # a Tatar letter
    assert script("Ґрунь") is None  # a Ukrainian letter
    assert script("Zhanaozen") is None


def test_todays_name_wins_over_the_soviet_one() -> None:
    names = choose_names(
        ["Zhanaozen"], ["Novyy Uzen’", "Zhaңaөzen", "Жанаозен", "Жаңаөзен", "Новый Узень"]
    )
    assert (names.ru, names.kk) == ("Жанаозен", "Жаңаөзен")
    shalqar = choose_names(["Shalqar"], ["Челкар", "Шалкар", "Шалқар"])
    assert (shalqar.ru, shalqar.kk) == ("Шалкар", "Шалқар")


def test_a_name_written_alike_in_both_languages_is_used_for_kazakh_too() -> None:
    almaty = choose_names(
        ["Almaty", "Almaty"], ["Алма-Ата", "Алматы", "Верный", "Вірний"], ["Alma-Ata", "Vernyy"]
    )
    assert (almaty.ru, almaty.kk) == ("Алматы", "Алматы")  # not Ukrainian «Вірний»
    # A Russian name that does not read as the Latin one is not taken for Kazakh.
    zhambyl = choose_names(["Zhambyl"], ["Джамбул"])
    assert (zhambyl.ru, zhambyl.kk) == ("Джамбул", None)


def test_a_renamed_village_gets_its_kazakh_name_from_its_other_latin_names() -> None:
    names = choose_names(
        ["Maloye Ganyushkino"], ["Kˌұrmangazy", "Құрманғазы"], ["Kurmangazy", "Ganyushkino"]
    )
    assert (names.ru, names.kk) == (None, "Құрманғазы")


def test_a_settlement_matches_the_nearest_place_of_its_name_within_the_radius() -> None:
    near = Place("Tasqala", 51.100, 50.300, ("Kamenka", "Tasqala", "Каменка", "Тасқала"))
    other = Place("Kamenka", 51.300, 50.300, ("Kamenka", "Каменка"))  # 22 km away
    far = Place("Zhelezinka", 53.540, 75.310, ("Zhelezinka", "Железинка"))
    assert match_place("Kamenka", 51.101, 50.301, [other, near, far]) is near
    assert match_place("Zhelezinka", 51.101, 50.301, [other, near, far]) is None
    assert names_for("Kamenka", 51.101, 50.301, [near]).kk == "Тасқала"
    # Nothing near of that name, nor similar: no names.
    assert names_for("Aqbaqay", 51.101, 50.301, [near]).ru is None


def test_loaded_settlements_carry_russian_and_kazakh_names(db: Any, migrated: Any) -> None:
    with db.engine.connect() as conn:
        rows = {
            r.name: r
            for r in conn.execute(
                text("SELECT name, name_ru, name_kk, names_source FROM settlements")
            )
        }
        total, ru, kk = conn.execute(
            text("SELECT count(*), count(name_ru), count(name_kk) FROM settlements")
        ).one()
    # The examples, and Pavlodar.
    assert (rows["Zhelezinka"].name_ru, rows["Zhelezinka"].name_kk) == ("Железинка",) * 2
    assert (rows["Aqkoel"].name_ru, rows["Aqkoel"].name_kk) == ("Акколь", "Ақкөл")
    assert rows["Ust'-Talovka"].name_ru == "Усть-Таловка"
    assert rows["Pavlodar"].name_ru == "Павлодар"
    assert rows["Pavlodar"].names_source == NAMES_SOURCE
    # Most settlements are named; the rest keep the Latin name only.
    assert ru > 0.85 * total and kk > 0.85 * total
    assert all(CYRILLIC.search(r.name_ru) for r in rows.values() if r.name_ru)
    assert all(r.names_source is None for r in rows.values() if not (r.name_ru or r.name_kk))


@pytest.mark.citus
def test_ogc_settlements_carry_names_in_each_language(
    client: Any, token: Any, db: Any, migrated: Any
) -> None:
    analyst = token("analyst")
    body = client.get(
        "/ogc/collections/settlements/items?bbox=76.8,52.2,77.1,52.4&limit=10", headers=analyst
    ).get_json()
    by_name = {f["properties"]["name"]: f["properties"] for f in body["features"]}
    pavlodar = by_name["Pavlodar"]
    assert (pavlodar["name_ru"], pavlodar["name_kk"], pavlodar["name_en"]) == (
        "Павлодар",
        "Павлодар",
        "Pavlodar",
    )
    # A settlement with no known Russian name falls back to its GeoNames Latin name.
    with db.engine.connect() as conn:
        kato = conn.execute(
            text("SELECT kato FROM settlements WHERE name_ru IS NULL ORDER BY kato LIMIT 1")
        ).scalar_one()
        latin = conn.execute(
            text("SELECT name FROM settlements WHERE kato = :k"), {"k": kato}
        ).scalar_one()
    one = client.get(f"/ogc/collections/settlements/items/{kato}", headers=analyst).get_json()
    assert one["properties"]["name_ru"] == latin == one["properties"]["name_en"]
