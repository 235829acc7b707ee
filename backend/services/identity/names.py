"""Names across scripts: transliteration (tables in identity_rules) and name skeletons."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

from backend.services.identity.identity_rules import (
    SKELETON_ENDINGS,
    SKELETON_REDUCTIONS,
    TRANSLITERATIONS,
)

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_NOT_LETTER = re.compile(r"[^a-z ]+")


def has_cyrillic(value: str | None) -> bool:
    return bool(value and _CYRILLIC.search(value))


def transliterate(value: str, table: str) -> str:
    """``value`` in Latin letters by one of the tables (lower case)."""
    letters = TRANSLITERATIONS[table]
    return "".join(letters.get(c, c) for c in value.lower())


@lru_cache(maxsize=65536)
def romanizations(value: str) -> frozenset[str]:
    """Every Latin spelling the tables give a Cyrillic name (the name itself if Latin)."""
    if not has_cyrillic(value):
        return frozenset({value})
    return frozenset(transliterate(value, table) for table in TRANSLITERATIONS)


@lru_cache(maxsize=65536)
def skeleton(value: str) -> str:
    """The letters of a name that survive every romanization: lower-case ASCII, with the
    region's alternative spellings of one sound reduced to one, and no doubled letters."""
    ascii_ = _NOT_LETTER.sub("", anyascii(unicodedata.normalize("NFC", value)).lower())
    for source, target in SKELETON_REDUCTIONS:
        ascii_ = ascii_.replace(source, target)
    words = []
    for word in ascii_.split():
        for ending, target in SKELETON_ENDINGS:
            if word.endswith(ending) and len(word) > len(ending) + 3:
                word = word[: -len(ending)] + target
                break
        words.append(word)
    return re.sub(r"(.)\1+", r"\1", " ".join(words))


def skeletons(*values: str | None) -> set[str]:
    """The skeletons of each spelling of the names given (Cyrillic through every table)."""
    found: set[str] = set()
    for value in values:
        if value and value.strip():
            found |= {skeleton(v) for v in romanizations(value.strip())}
    found.discard("")
    return found


def name_key(surname_cyrillic: str | None, surname_latin: str | None, surname: str) -> str:
    """The blocking key of a person: the skeleton of the surname, Latin spelling first."""
    for value in (surname_latin, surname_cyrillic, surname):
        if value and value.strip():
            return skeleton(transliterate(value.strip(), "icao_9303"))[:100]
    return ""
