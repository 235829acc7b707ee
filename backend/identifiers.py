"""IIN and BIN: 12-digit identifiers with a mod-11 check digit (docs/domain.md, Identifiers)."""

from __future__ import annotations

import re
from datetime import date

_W1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_W2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
# Century/sex digit → (first year of the century, sex).
CENTURY_SEX = {
    1: (1800, "M"),
    2: (1800, "F"),
    3: (1900, "M"),
    4: (1900, "F"),
    5: (2000, "M"),
    6: (2000, "F"),
}


def ascii_digits(value: str) -> bool:
    """Whether ``value`` is one or more of the digits 0-9: ``str.isdigit`` also takes
    superscripts (which ``int`` refuses) and other scripts' digits (which would make a
    second key for one number)."""
    return value.isascii() and value.isdigit()


def check_digit(first11: str) -> int | None:
    """The check digit for 11 leading digits, or None when no valid one exists."""
    digits = [int(c) for c in first11]
    value = sum(d * w for d, w in zip(digits, _W1, strict=True)) % 11
    if value == 10:
        value = sum(d * w for d, w in zip(digits, _W2, strict=True)) % 11
    return None if value == 10 else value


def _check_shape(value: str) -> str | None:
    if not isinstance(value, str) or len(value) != 12 or not ascii_digits(value):
        return "must be exactly 12 digits"
    expected = check_digit(value[:11])
    if expected is None:
        return "is not a number that can be issued (check digit would be 10)"
    if expected != int(value[11]):
        return f"check digit is wrong (expected {expected})"
    return None


def iin_problem(iin: str) -> str | None:
    """Why an IIN is invalid, or None when it is valid."""
    problem = _check_shape(iin)
    if problem:
        return problem
    century_sex = int(iin[6])
    if century_sex not in CENTURY_SEX:
        return "7th digit (century and sex) must be 1-6"
    try:
        iin_birth_date(iin)
    except ValueError:
        return "first six digits are not a valid birth date"
    return None


def iin_birth_date(iin: str) -> date:
    century, _sex = CENTURY_SEX[int(iin[6])]
    return date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))


def iin_sex(iin: str) -> str:
    return CENTURY_SEX[int(iin[6])][1]


def century_sex_digit(birth_date: date, sex: str) -> int:
    """The 7th IIN digit for a birth date and sex ('M'/'F')."""
    for digit, (century, s) in CENTURY_SEX.items():
        if s == sex and century <= birth_date.year < century + 100:
            return digit
    raise ValueError("birth year outside 1800-2099")


# The serials (digits 8-11) the register gives the IINs it generates for foreigners
# without one: never issued by the state's own IIN registry, which uses 0001-8999, so a
# generated IIN never passes for a real one (issue 22).
GENERATED_SERIALS = range(9000, 10000)


def is_generated_iin(iin: str) -> bool:
    """Whether an IIN's serial lies in the range of generated IINs."""
    return len(iin) == 12 and ascii_digits(iin) and int(iin[7:11]) in GENERATED_SERIALS


def make_iin(birth_date: date, sex: str, serial: int) -> str | None:
    """IIN for a birth date, sex and 4-digit serial; None when no check digit exists."""
    head = f"{birth_date:%y%m%d}{century_sex_digit(birth_date, sex)}{serial:04d}"
    digit = check_digit(head)
    return None if digit is None else head + str(digit)


def bin_problem(bin_: str) -> str | None:
    """Why a BIN is invalid, or None. BIN shares the IIN's length and check digit."""
    problem = _check_shape(bin_)
    if problem:
        return problem
    if int(bin_[2:4]) not in range(1, 13):
        return "digits 3-4 must be the registration month (01-12)"
    return None


def make_bin(yymm: str, kind: int, serial: int) -> str | None:
    """A BIN for registration year-month, legal-entity kind digit and a 5-digit serial."""
    head = f"{yymm}{kind}0{serial:05d}"
    digit = check_digit(head)
    return None if digit is None else head + str(digit)


# Cyrillic letters a document number is often typed with instead of their Latin
# look-alikes (a phone keyboard left in Russian): А В Е К М Н О Р С Т Х У.
_LOOK_ALIKES = str.maketrans("АВЕКМНОРСТХУ", "ABEKMHOPCTXY")
_SEPARATORS = str.maketrans("", "", " \t\u00a0-‐‑‒–—_./")


def document_key(number: str | None) -> str | None:
    """A document number as the register compares it: upper case, no spaces, hyphens,
    dots or slashes, Cyrillic look-alike letters read as Latin (``fa 123-4567``,
    ``FA1234567`` and Cyrillic ``FА1234567`` are one number). None for nothing."""
    if number is None:
        return None
    key = number.upper().translate(_SEPARATORS).translate(_LOOK_ALIKES)
    return key or None


def iin_typed(value: str) -> str:
    """An IIN as typed (spaces, hyphens) reduced to its digits when it is one."""
    return value.translate(_SEPARATORS)


# The shapes of document numbers a country's documents carry, where they are known:
# Kazakhstan's passports (a letter and 8 digits) and identity cards (9 digits).
DOCUMENT_NUMBER_SHAPES = {"KAZ": re.compile(r"^(N[0-9]{8}|[0-9]{9})$")}
_ANY_DOCUMENT_NUMBER = re.compile(r"^.+$")


def document_number_valid(key: str, country: str | None = None) -> bool:
    """Whether a normalised document number can be one of ``country``'s documents (of a
    country whose shapes are not listed: any number that is not empty)."""
    shape = DOCUMENT_NUMBER_SHAPES.get(country or "", _ANY_DOCUMENT_NUMBER)
    return bool(shape.match(key))
