"""CSV cells a spreadsheet would run as a formula (CSV injection, OWASP).

A cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before
one) is a formula to Excel and LibreOffice: ``=HYPERLINK(…)`` in a surname becomes a link
that leaks data when an official opens an export. Imports flag such cells in their report
(:func:`formula_like`); every CSV written for people to open goes through
:func:`neutralised`, which makes the cell text again with a leading apostrophe.
Numbers (``-12.5``, ``+7``) are numbers, not formulas, and stay as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def formula_like(value: Any) -> bool:
    """Whether a cell would be run as a formula by a spreadsheet."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _number(value)


def neutralised(value: Any) -> Any:
    """The cell as text a spreadsheet shows and never runs."""
    return "'" + value if formula_like(value) else value


def to_csv(rows: Iterable[Iterable[Any]]) -> str:
    """CSV text for people to open, every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([neutralised(cell) for cell in row])
    return out.getvalue()
