"""A passport's (TD3) or an ID card's (TD1) machine-readable zone, read and checked.

Parsing and the ICAO 9303 check digits are the ``mrz`` package's; here is what Qonys
makes of its answer: the person's fields, or a 422 naming the line and position of the
check digit that is wrong.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from mrz.base.errors import FieldError
from mrz.checker.td1 import TD1CodeChecker
from mrz.checker.td3 import TD3CodeChecker

from backend import clock
from backend.errors import FieldError as Problem
from backend.errors import Invalid
from backend.identifiers import ascii_digits

# Where each check digit is: (line, position), both from 1, per ICAO 9303 parts 4 and 5.
CHECK_DIGITS = {
    "TD3": {
        "document number hash": (2, 10),
        "birth date hash": (2, 20),
        "expiry date hash": (2, 28),
        "optional data hash": (2, 43),
        "final hash": (2, 44),
    },
    "TD1": {
        "document number hash": (1, 15),
        "birth date hash": (2, 7),
        "expiry date hash": (2, 15),
        "final hash": (2, 30),
    },
}
LINE_LENGTHS = {"TD3": (44, 2), "TD1": (30, 3)}
SEXES = {"M": "M", "F": "F"}


def _lines(value: str) -> list[str]:
    return [line.strip().upper() for line in value.replace("\r", "").split("\n") if line.strip()]


def _birth_date(yymmdd: str) -> date:
    """A two-digit year is of this century unless that would be in the future."""
    year = 2000 + int(yymmdd[:2])
    if year > clock.today().year:
        year -= 100
    return date(year, int(yymmdd[2:4]), int(yymmdd[4:6]))


def _name(value: str) -> str:
    return " ".join(value.replace("<", " ").split()).title()


def read_mrz(value: str, field: str = "mrz") -> dict[str, Any]:
    """The fields of an MRZ, every check digit verified; Invalid(``field``) otherwise."""
    lines = _lines(value)
    kind = next((k for k, (w, n) in LINE_LENGTHS.items() if len(lines) == n), None)
    if kind is None or any(len(line) != LINE_LENGTHS[kind][0] for line in lines):
        raise Invalid(field, "must be a TD3 (2 lines of 44) or TD1 (3 lines of 30) MRZ")
    checker_class = TD3CodeChecker if kind == "TD3" else TD1CodeChecker
    try:
        checker = checker_class("\n".join(lines))
    except FieldError as exc:
        raise Invalid(field, f"cannot be read: {exc.args[0]}") from exc
    wrong = [name for name, _ok in checker.report.falses if name in CHECK_DIGITS[kind]]
    wrong.sort(key=lambda name: name == "final hash")
    if wrong:
        problems = [
            Problem(
                field,
                f"{name.replace(' hash', '')} check digit is wrong "
                f"(line {CHECK_DIGITS[kind][name][0]}, position {CHECK_DIGITS[kind][name][1]})",
            )
            for name in wrong
        ]
        refusal = Invalid(field, problems[0].message)
        refusal.errors = problems
        raise refusal
    if not checker:
        failed = ", ".join(name for name, _ok in checker.report.falses)
        raise Invalid(field, f"is not valid: {failed}")
    fields = checker.fields()
    try:
        birth_date = _birth_date(fields.birth_date)
    except ValueError as exc:
        raise Invalid(field, "birth date is not a date (line 2, positions 14-19)") from exc
    optional = (fields.optional_data or "").replace("<", "")
    return {
        "format": kind,
        "document": {"type": "passport" if kind == "TD3" else "id_card",
                     "number": fields.document_number.replace("<", "")},
        "issuing_country": fields.country,
        "citizenship": fields.nationality,
        "surname_latin": _name(fields.surname),
        "given_name_latin": _name(fields.name),
        "birth_date": birth_date,
        "sex": SEXES.get(fields.sex),
        "expiry_date": fields.expiry_date,
        # A Kazakh document carries the IIN in its optional data.
        "iin": optional if len(optional) == 12 and ascii_digits(optional) else None,
    }  # fmt: skip
