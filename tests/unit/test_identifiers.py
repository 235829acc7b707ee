from datetime import date

import pytest

from backend.identifiers import (
    ascii_digits,
    bin_problem,
    check_digit,
    document_number_valid,
    iin_birth_date,
    iin_problem,
    iin_sex,
    is_generated_iin,
    make_bin,
    make_iin,
)
from backend.services.register.offline_checks import split_who


def test_check_digit_first_pass() -> None:
    # 1*9+2*0+3*0+4*5+5*1+6*7+7*3+8*0+9*0+10*0+11*0 = 97 → 97 mod 11 = 9
    assert check_digit("90051730000") == 9


def test_check_digit_second_pass_and_unissuable() -> None:
    found_second = found_none = False
    for serial in range(2000):
        head = f"8001013{serial:04d}"
        first = sum(int(d) * w for d, w in zip(head, range(1, 12), strict=True)) % 11
        if first == 10:
            digit = check_digit(head)
            if digit is None:
                found_none = True
            else:
                found_second = True
                assert 0 <= digit <= 9
    assert found_second and found_none


@pytest.mark.parametrize(
    ("iin", "problem"),
    [
        ("900517300001", "check digit"),
        ("900517300009", "none"),
        ("90051730000", "12 digits"),
        ("9005173000a9", "12 digits"),
        ("901317300004", None),  # replaced below with computed check digits
    ],
)
def test_iin_problems(iin: str, problem: str | None) -> None:
    if problem == "none":
        assert iin_problem(iin) is None
    elif problem is None:
        head = iin[:11]
        digit = check_digit(head)
        assert digit is not None
        assert "birth date" in (iin_problem(head + str(digit)) or "")
    else:
        assert problem in (iin_problem(iin) or "")


def test_century_sex_digit_out_of_range() -> None:
    head = "9005177000"
    for last in range(10):
        digit = check_digit(head + str(last))
        if digit is not None:
            assert "century" in (iin_problem(f"{head}{last}{digit}") or "")
            return
    pytest.fail("no issuable number found")


@pytest.mark.parametrize(
    ("birth", "sex"),
    [(date(1990, 5, 17), "M"), (date(2004, 2, 29), "F"), (date(1899, 12, 31), "F")],
)
def test_make_iin_round_trip(birth: date, sex: str) -> None:
    made = [make_iin(birth, sex, serial) for serial in range(1, 40)]
    valid = [iin for iin in made if iin]
    assert len(valid) >= 30
    for iin in valid:
        assert iin_problem(iin) is None
        assert iin_birth_date(iin) == birth
        assert iin_sex(iin) == sex


def test_bin() -> None:
    bin_ = next(b for s in range(1, 50) if (b := make_bin("2203", 4, s)))
    assert bin_problem(bin_) is None
    head = "2213400123"
    month13 = next(
        f"{head}{d}{c}" for d in range(10) if (c := check_digit(f"{head}{d}")) is not None
    )
    assert "month" in (bin_problem(month13) or "")
    assert "check digit" in (bin_problem(bin_[:11] + str((int(bin_[11]) + 1) % 10)) or "")


@pytest.mark.parametrize("odd", ["²" * 12, "①" * 12, "٠" * 12, "１" * 12, "1²"])
def test_digits_of_other_forms_are_not_an_iin_and_raise_nothing(odd: str) -> None:
    """``str.isdigit`` takes superscripts (which ``int`` refuses: a 500) and other scripts'
    digits (which would make a second key for one number): an IIN is 0-9 only."""
    assert not ascii_digits(odd)
    assert iin_problem(odd) == "must be exactly 12 digits"
    assert bin_problem(odd) == "must be exactly 12 digits"
    assert not is_generated_iin(odd)
    assert split_who(odd) == (None, odd)
    assert not document_number_valid("N" + "٠" * 8, "KAZ")
