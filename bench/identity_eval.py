"""A labelled evaluation set for "is this the same person?", and its precision and recall.

    python -m bench.identity_eval [--persons 2000] [--seed 7]

For each generated person (Kazakh names, as on a Kazakh ID card, in Cyrillic) the set
holds one true duplicate: the same person as another document writes them — Russian
Cyrillic, ICAO 9303 Latin (passport and MRZ), the 2021 Kazakh Latin alphabet, BGN/PCGN,
an Uzbek, Kyrgyz or Mongolian passport's romanization, Chinese pinyin of a kandas from
China — sometimes with a typo, the day and month swapped or the birth date a few days
off. And near-misses that are two people: twins (one surname, one birth date, two given
names), namesakes born on other days, other people born the same day, and two persons
with one name and birth date but two real IINs. Each pair is scored by the rules of
backend/services/identity/identity_rules.py; a pair at or above ``DUPLICATE_THRESHOLD`` is
called a duplicate. Prints precision, recall, and the worst false positive and negative.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from backend.services.identity import identity_rules as rules
from backend.services.identity.matching import probe_of, score
from backend.services.identity.names import transliterate

SURNAMES = (
    "Жанұзақов", "Сәрсенбаев", "Нұрланов", "Әбдірахманов", "Құдайбергенов", "Төлеуов",
    "Ахметов", "Оспанов", "Серікбаев", "Жақсылықов", "Бекмұхамбетов", "Қасымов", "Ермеков",
    "Мұқанов", "Исабеков", "Байжанов", "Тұрсынов", "Омаров", "Сұлтанов", "Әлімжанов",
    "Жұмабаев", "Қуанышев", "Есенов", "Рахымжанов", "Шәріпов", "Ғабдуллин", "Жүсіпов",
    "Өтегенов", "Иманғалиев", "Дәулетов",
)  # fmt: skip
GIVEN_NAMES = (
    "Айдос", "Нұрлан", "Ерлан", "Асхат", "Бауыржан", "Дәурен", "Ержан", "Қайрат", "Мұрат",
    "Серік", "Талғат", "Жандос", "Әділет", "Ғалым", "Еркебұлан", "Айбек", "Айдар", "Арман",
    "Берік", "Дархан", "Азамат", "Нұрсұлтан", "Ілияс", "Жасұлан", "Ақжол", "Санжар",
    "Ұлан", "Өмірзақ", "Шыңғыс", "Рүстем",
)  # fmt: skip
RUSSIAN = str.maketrans("әғқңөұүһі", "агкноууhи".replace("h", "х"))
UZBEK = {"ж": "j", "х": "x", "ш": "sh", "ч": "ch", "ц": "ts", "й": "y", "ю": "yu", "я": "ya",
         "қ": "q", "ғ": "g'", "ў": "o'"}  # fmt: skip
MONGOLIAN = {"ж": "j", "х": "kh", "ө": "ö", "ү": "ü", "е": "e", "й": "i", "ц": "ts",
             "ш": "sh", "ч": "ch", "ю": "yu", "я": "ya", "ы": "y", "и": "i"}  # fmt: skip
PINYIN_ENDINGS = (("v", "fu"), ("k", "ke"), ("s", "si"), ("t", "te"), ("r", "er"), ("b", "bu"))


def _latin(value: str, table: dict[str, str]) -> str:
    plain = value.lower().translate(RUSSIAN)
    out = "".join(table.get(c, transliterate(c, "icao_9303")) for c in plain)
    return out.title()


def _pinyin(value: str) -> str:
    """Roughly how a Chinese passport writes a Kazakh name: syllables ending in vowels."""
    word = transliterate(value, "icao_9303")
    word = word.replace("do", "duo").replace("to", "tuo").replace("r", "l")
    for ending, spelled in PINYIN_ENDINGS:
        if word.endswith(ending):
            word = word[: -len(ending)] + spelled
            break
    return word.title()


SPELLINGS: dict[str, Callable[[str], str]] = {
    "kazakh_cyrillic": lambda v: v,
    "russian_cyrillic": lambda v: v.lower().translate(RUSSIAN).title(),
    "icao_9303": lambda v: transliterate(v, "icao_9303").upper(),
    "kazakh_latin_2021": lambda v: transliterate(v, "kazakh_latin_2021").title(),
    "bgn_pcgn": lambda v: transliterate(v, "bgn_pcgn").title(),
    "uzbek": lambda v: _latin(v, UZBEK),
    "kyrgyz": lambda v: transliterate(v.lower().translate(RUSSIAN), "icao_9303").title(),
    "mongolian": lambda v: _latin(v, MONGOLIAN),
    "pinyin": _pinyin,
}


@dataclass
class Pair:
    kind: str
    same: bool
    a: dict[str, Any]
    b: dict[str, Any]


def _typo(value: str, rng: random.Random) -> str:
    if len(value) < 5:
        return value
    i = rng.randrange(1, len(value) - 1)
    return value[:i] + value[i + 1 :] if rng.random() < 0.5 else value[:i] + value[i] + value[i:]


def _person(rng: random.Random) -> dict[str, Any]:
    return {
        "surname": rng.choice(SURNAMES),
        "given_name": rng.choice(GIVEN_NAMES),
        "birth_date": date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55)),
        "sex": "M",
        "citizenship": rng.choice(("CHN", "MNG", "UZB", "KGZ", "KAZ")),
    }


def _variant(person: dict[str, Any], rng: random.Random) -> tuple[str, dict[str, Any]]:
    family = rng.choice(sorted(SPELLINGS))
    spell = SPELLINGS[family]
    other = {
        **person,
        "surname": spell(person["surname"]),
        "given_name": spell(person["given_name"]),
    }
    if rng.random() < 0.15:
        part = rng.choice(("surname", "given_name"))
        other[part] = _typo(other[part], rng)
    day = person["birth_date"]
    roll = rng.random()
    if roll < 0.08 and day.day <= 12 and day.day != day.month:
        other["birth_date"] = day.replace(month=day.day, day=day.month)
        family += "+swap"
    elif roll < 0.16:
        other["birth_date"] = day + timedelta(days=rng.choice((-3, -1, 1, 2, 5)))
        family += "+window"
    if rng.random() < 0.2:
        other["citizenship"] = "KAZ"  # a kandas since granted citizenship
    return family, other


def build(persons: int, seed: int) -> list[Pair]:
    """The labelled pairs: one true duplicate per person and four kinds of near-miss."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    for _ in range(persons):
        person = _person(rng)
        family, dup = _variant(person, rng)
        pairs.append(Pair(family, True, person, dup))
        kind = rng.choice(("twin", "namesake", "same_day", "two_real_iins"))
        other = dict(person)
        if kind == "twin":
            other["given_name"] = rng.choice([g for g in GIVEN_NAMES if g != person["given_name"]])
        elif kind == "namesake":
            other["birth_date"] = person["birth_date"] + timedelta(days=rng.randrange(40, 9000))
        elif kind == "same_day":
            other["surname"] = rng.choice([s for s in SURNAMES if s != person["surname"]])
            other["given_name"] = rng.choice(GIVEN_NAMES)
        else:
            person = {**person, "iin": "900115300123"}
            other["iin"] = "900115300154"
        spell = SPELLINGS[rng.choice(sorted(SPELLINGS))]
        other["surname"], other["given_name"] = spell(other["surname"]), spell(other["given_name"])
        pairs.append(Pair(kind, False, person, other))
    return pairs


def evaluate(pairs: list[Pair], threshold: float) -> dict[str, Any]:
    tp = fp = fn = 0
    worst_fp: tuple[float, Pair | None] = (0.0, None)
    worst_fn: tuple[float, Pair | None] = (1.0, None)
    for pair in pairs:
        value, _reasons = score(probe_of(pair.a), probe_of(pair.b))
        called = value >= threshold
        if pair.same and called:
            tp += 1
        elif pair.same:
            fn += 1
            worst_fn = min(worst_fn, (value, pair), key=lambda x: x[0])
        elif called:
            fp += 1
            worst_fp = max(worst_fp, (value, pair), key=lambda x: x[0])
        elif value > worst_fp[0]:
            worst_fp = (value, pair)
    return {
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "worst_fp": worst_fp,
        "worst_fn": worst_fn,
    }


def _show(label: str, found: tuple[float, Pair | None]) -> str:
    value, pair = found
    if pair is None:
        return f"{label}: none"
    names = [f"{p['surname']} {p['given_name']} {p['birth_date']}" for p in (pair.a, pair.b)]
    return f"{label}: {value:.3f} [{pair.kind}] {names[0]} ~ {names[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=rules.DUPLICATE_THRESHOLD)
    args = parser.parse_args()
    pairs = build(args.persons, args.seed)
    result = evaluate(pairs, args.threshold)
    print(
        f"{len(pairs)} pairs ({args.persons} true duplicates), threshold {args.threshold}: "
        f"precision {result['precision']:.4f}, recall {result['recall']:.4f} "
        f"(TP {result['true_positives']}, FP {result['false_positives']}, "
        f"FN {result['false_negatives']})"
    )
    print(_show("worst false positive (highest-scored near-miss)", result["worst_fp"]))
    print(_show("worst false negative (lowest-scored duplicate)", result["worst_fn"]))


if __name__ == "__main__":
    main()
