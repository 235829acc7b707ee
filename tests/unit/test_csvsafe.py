"""CSV cells neutralised on export (issue 28, F16)."""

import csv
import io

import pytest

from backend.csvsafe import formula_like, neutralised, to_csv


@pytest.mark.parametrize(
    ("cell", "formula"),
    [
        ('=HYPERLINK("http://evil.example","x")', True),
        ("+cmd|' /C calc'!A0", True),
        ("-2+3", True),
        ("@SUM(A1:A2)", True),
        ("\t=1+1", True),
        ("-12.5", False),
        ("+7", False),
        ("Ахметова", False),
        ("", False),
        (None, False),
    ],
)
def test_formula_cells_are_recognised(cell: object, formula: bool) -> None:
    assert formula_like(cell) is formula


def test_an_export_never_holds_a_live_formula() -> None:
    text = to_csv([["surname", "lat"], ['=HYPERLINK("http://evil.example","x")', "-12.5"]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ['\'=HYPERLINK("http://evil.example","x")', "-12.5"]
    assert all(not formula_like(cell) for row in rows for cell in row)
    assert neutralised("@x") == "'@x"
