"""Is this the same person? Candidates from the register, scored and explained.

Candidates come from PostgreSQL by indexed keys only (the document key, the birth date
and its day/month swap, the surname's skeleton within the birth date window), so a
match never reads the register; they are then scored here by the rules of
:mod:`backend.services.identity.identity_rules`, with rapidfuzz for the distance of names and
jellyfish for how they sound.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import jellyfish
from rapidfuzz import fuzz
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.identifiers import document_key
from backend.services.identity import identity_rules as rules
from backend.services.identity.names import has_cyrillic, name_key, skeletons

# Three blocks, each by its own index and each bounded, so that a match reads at most
# a few hundred rows of the register however large it grows: the document key
# (persons_document_key), the birth date and its day/month swap for surnames beginning
# with the letter of a name sought (persons_birth_initial: a surname spelled past its
# key, or the names in the other order), the surname's skeleton within the birth date
# window (persons_name_key_birth). UNION
# drops a person two blocks bring.
_COLUMNS = """id, iin, iin_generated, surname, given_name, surname_cyrillic, given_name_cyrillic,
    surname_latin, given_name_latin, birth_date, sex, citizenship, document_key"""
_BLOCK = text(
    f"""
    (SELECT {_COLUMNS} FROM persons
     WHERE document_key = :doc AND merged_into IS NULL AND id <> :exclude
     LIMIT :doc_limit)
    UNION
    (SELECT {_COLUMNS} FROM persons
     WHERE birth_date = ANY(CAST(:dates AS date[]))
       AND left(name_key, 1) = ANY(CAST(:initials AS varchar[]))
       AND merged_into IS NULL AND id <> :exclude
     LIMIT :limit)
    UNION
    (SELECT {_COLUMNS} FROM persons
     WHERE name_key = ANY(CAST(:keys AS varchar[])) AND birth_date BETWEEN :lo AND :hi
       AND merged_into IS NULL AND id <> :exclude
     LIMIT :limit)
    """
)
_DECIDED_DIFFERENT = text(
    "SELECT person_id, candidate_id FROM duplicate_reviews"
    " WHERE status = 'different' AND (person_id = :id OR candidate_id = :id)"
)


@dataclass(frozen=True)
class Probe:
    """What is known of the person being looked for."""

    surnames: set[str]
    given_names: set[str]
    birth_date: date
    sex: str | None = None
    citizenship: str | None = None
    document_key: str | None = None
    iin: str | None = None
    iin_generated: bool = False
    name_keys: set[str] = field(default_factory=set)
    # The first letters of the names' blocking keys (surname and given name): the birth
    # date block reads only surnames that begin with one of them.
    initials: set[str] = field(default_factory=set)
    # The scripts the names were given in ("cyrillic", "latin"): two records with no
    # script in common agree across scripts, never "the same name".
    scripts: frozenset[str] = frozenset()


def _scripts(*values: str | None) -> frozenset[str]:
    return frozenset("cyrillic" if has_cyrillic(v) else "latin" for v in values if v and v.strip())


def _alike_initials(initials: set[str]) -> set[str]:
    """The initials with the consonants romanizations swap for them (pinyin writes р as
    l, so Рахымжанов's surname may begin with r or l): the birth date block reads both."""
    out = set(initials)
    for initial in initials:
        merged = initial.translate(rules.CONSONANT_MERGES)
        if merged:
            out |= {
                c for c in string.ascii_lowercase if c.translate(rules.CONSONANT_MERGES) == merged
            }
    return out


@dataclass
class Candidate:
    person_id: int
    score: float
    reasons: list[str]


def probe_of(data: dict[str, Any]) -> Probe:
    """A probe from a person body as the API takes it (creation or a match request)."""
    document = data.get("document") or {}
    surname_fields = (data.get("surname"), data.get("surname_cyrillic"), data.get("surname_latin"))
    given_fields = (
        data.get("given_name"),
        data.get("given_name_cyrillic"),
        data.get("given_name_latin"),
    )
    keys = {name_key(None, None, s) for s in surname_fields if s}
    given_keys = {name_key(None, None, g) for g in given_fields if g}
    return Probe(
        surnames=skeletons(*surname_fields),
        given_names=skeletons(*given_fields),
        birth_date=data["birth_date"],
        sex=data.get("sex"),
        citizenship=data.get("citizenship"),
        document_key=document_key(document.get("number")),
        iin=data.get("iin"),
        iin_generated=bool(data.get("iin_generated")),
        name_keys=keys - {""},
        initials=_alike_initials({k[:1] for k in keys | given_keys} - {""}),
        scripts=_scripts(*surname_fields, *given_fields),
    )


@lru_cache(maxsize=65536)
def _names(*values: str | None) -> frozenset[str]:
    """The skeletons of a register row's spellings of one name (rows repeat names)."""
    return frozenset(skeletons(*values))


def _row_probe(row: Any) -> Probe:
    return Probe(
        surnames=set(_names(row.surname, row.surname_cyrillic, row.surname_latin)),
        given_names=set(_names(row.given_name, row.given_name_cyrillic, row.given_name_latin)),
        birth_date=row.birth_date,
        sex=row.sex,
        citizenship=row.citizenship,
        document_key=row.document_key,
        iin=row.iin,
        iin_generated=bool(row.iin_generated),
        scripts=_scripts(
            row.surname,
            row.surname_cyrillic,
            row.surname_latin,
            row.given_name,
            row.given_name_cyrillic,
            row.given_name_latin,
        ),
    )


def person_data(person: Any) -> dict[str, Any]:
    """A registered person as a match request describes them (their card's candidates)."""
    return {
        "surname": person.surname,
        "given_name": person.given_name,
        "surname_cyrillic": person.surname_cyrillic,
        "given_name_cyrillic": person.given_name_cyrillic,
        "surname_latin": person.surname_latin,
        "given_name_latin": person.given_name_latin,
        "birth_date": person.birth_date,
        "sex": person.sex,
        "citizenship": person.citizenship,
        "document": {"number": person.document_number},
        "iin": person.iin,
        "iin_generated": person.iin_generated,
    }


def _swapped(day: date) -> date | None:
    try:
        return day.replace(month=day.day, day=day.month) if day.day <= 12 else None
    except ValueError:
        return None


def _name_similarity(ours: set[str], theirs: set[str]) -> tuple[float, bool]:
    """The best similarity (0-1) of two sets of skeletons, and whether they sound alike."""
    best, alike = 0.0, False
    for a in ours:
        for b in theirs:
            best = max(best, fuzz.ratio(a, b) / 100, fuzz.token_sort_ratio(a, b) / 100)
            alike = alike or jellyfish.metaphone(a) == jellyfish.metaphone(b)
            consonants = a.translate(rules.CONSONANT_MERGES), b.translate(rules.CONSONANT_MERGES)
            if min(map(len, consonants)) >= rules.CONSONANTS_AT_LEAST:
                best = max(best, rules.CONSONANTS_WORTH * fuzz.ratio(*consonants) / 100)
    return best, alike


def _birth_date(a: date, b: date) -> tuple[float, str | None]:
    if a == b:
        return rules.BIRTH_DATE_SCORES["exact"], "birth_date_exact"
    if _swapped(a) == b:
        return rules.BIRTH_DATE_SCORES["day_month_swapped"], "birth_date_day_month_swapped"
    if abs((a - b).days) <= rules.BIRTH_DATE_WINDOW_DAYS:
        return rules.BIRTH_DATE_SCORES["window"], "birth_date_within_window"
    return 0.0, None


def score(probe: Probe, other: Probe) -> tuple[float, list[str]]:
    """How likely two records are one person (0-1), and what agreed."""
    both_real = not (probe.iin_generated or other.iin_generated)
    if probe.iin and other.iin and probe.iin != other.iin and both_real:
        return rules.DIFFERENT_REAL_IINS_SCORE, ["different_real_iins"]
    parts: dict[str, float] = {}
    reasons: list[str] = []
    surname, surname_alike = _name_similarity(probe.surnames, other.surnames)
    given, given_alike = _name_similarity(probe.given_names, other.given_names)
    # Names written in the other order (family name first, as in Chinese passports).
    swapped = min(
        _name_similarity(probe.surnames, other.given_names)[0],
        _name_similarity(probe.given_names, other.surnames)[0],
    )
    if swapped > min(surname, given):
        surname = given = swapped
        reasons.append("names_in_other_order")
    parts["surname"], parts["given_name"] = surname, given
    across = bool(probe.scripts and other.scripts and not probe.scripts & other.scripts)
    for part, value, alike in (
        ("surname", surname, surname_alike),
        ("given_name", given, given_alike),
    ):
        if value >= rules.NAME_AGREES and across:
            reasons.append(f"{part}_agrees_across_scripts")
        elif value >= rules.NAME_AGREES:
            reasons.append(f"{part}_same" if value == 1 else f"{part}_similar")
        elif alike:
            reasons.append(f"{part}_sounds_alike")
    parts["birth_date"], birth_reason = _birth_date(probe.birth_date, other.birth_date)
    if birth_reason:
        reasons.append(birth_reason)
    if probe.sex and other.sex:
        parts["sex"] = float(probe.sex == other.sex)
        reasons += ["sex_same"] if probe.sex == other.sex else []
    if probe.citizenship and other.citizenship:
        parts["citizenship"] = float(probe.citizenship == other.citizenship)
        reasons += ["citizenship_same"] if parts["citizenship"] else []
    same_document = bool(probe.document_key and probe.document_key == other.document_key)
    if probe.document_key and other.document_key:
        parts["document"] = float(same_document)
    total = sum(rules.WEIGHTS[k] * v for k, v in parts.items()) / sum(
        rules.WEIGHTS[k] for k in parts
    )
    for part, floor in rules.NAME_FLOORS.items():
        if parts[part] < floor:
            total *= rules.NAME_DIFFERS_FACTOR
    if not birth_reason and not same_document:
        total *= rules.OTHER_BIRTH_DATE_FACTOR
    if same_document and parts.get("citizenship", 1.0):
        reasons.append("document_same")
        total = max(total, rules.SAME_DOCUMENT_SCORE)
    return round(total, 3), reasons


def candidates(
    session: Session,
    data: dict[str, Any],
    exclude: int = 0,
    threshold: float = rules.CANDIDATE_THRESHOLD,
) -> list[Candidate]:
    """The register's persons who may be the one described by ``data``, best first."""
    probe = probe_of(data)
    day = probe.birth_date
    window = timedelta(days=rules.BIRTH_DATE_WINDOW_DAYS)
    dates = [day] + [d for d in (_swapped(day),) if d and d != day]
    rows = session.execute(
        _BLOCK,
        {
            "exclude": exclude,
            "doc": probe.document_key,
            "dates": dates,
            "keys": sorted(probe.name_keys),
            "initials": sorted(probe.initials),
            "lo": day - window if day > date.min + window else date.min,
            "hi": day + window if day < date.max - window else date.max,
            "limit": rules.BLOCK_LIMIT,
            "doc_limit": rules.DOCUMENT_BLOCK_LIMIT,
        },
    ).all()
    different: set[int] = set()
    if exclude:
        for a, b in session.execute(_DECIDED_DIFFERENT, {"id": exclude}):
            different.add(b if a == exclude else a)
    found = []
    for row in rows:
        if row.id in different:
            continue
        value, reasons = score(probe, _row_probe(row))
        if value >= threshold:
            found.append(Candidate(row.id, value, reasons))
    found.sort(key=lambda c: (-c.score, c.person_id))
    return found[: rules.MAX_CANDIDATES]
