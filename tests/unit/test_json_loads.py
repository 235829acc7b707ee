"""The API's JSON parser (backend/api/input_guard.loads): orjson first, the stdlib for
what orjson would read differently or refuses. Every body must read exactly as the
stdlib alone read it (values, types, key order, the sign of zero), or be refused with
the stdlib's own error: the batch path's per-point refusals and the 400s depend on it."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.api import input_guard
from backend.api.input_guard import _no_constant, loads


def _stdlib(data: bytes) -> Any:
    return json.loads(data, parse_constant=_no_constant)


def _same(got: Any, want: Any) -> None:
    """Equal value by value, with the same types, key order and signs of zero."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            _same(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            _same(a, b)
    elif isinstance(want, float) and not math.isnan(want):
        assert got == want and math.copysign(1, got) == math.copysign(1, want)
    else:
        assert got == want


# Integers at and past the edges of 64 bits: orjson reads the ones past them as rounded
# floats without an error, so these bodies must go to the stdlib.
EDGES = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**19, 10**20 - 1]
ACCEPTED = [
    b'{"points": [{"t": "2026-12-04T10:00:00+05:00", "lat": 51.16, "lon": 71.47}]}',
    b'{"b": 1, "a": 2, "a": 3}',  # a repeated key: the last value, in the first's place
    b'{"n": -0, "f": -0.0, "e": 1E2, "small": 5e-324, "tiny": 1e-400}',
    b'{"s": "\\u0430\\u0431\\u0432 \\ud83d\\ude00 \\u049b\\u0430\\u0437\\u0430\\u049b"}',
    *(f'{{"n": {n}, "in": [{n}]}}'.encode() for n in EDGES),
    ("[" + "9" * 309 + "]").encode(),  # a float's range, far past 64 bits
    ("[" + "7" * 400 + "]").encode(),  # past a float's range
    b"[123456789012345678901234567890.0]",
    b"[1e400]",  # beyond a double: orjson refuses, the stdlib reads infinity
    b'{"x": "\\ud800"}',  # a lone surrogate: orjson refuses, the stdlib reads
    '{"x": "й"}'.encode("utf-16"),  # UTF-16 with its BOM: only the stdlib reads it
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_a_body_reads_as_the_stdlib_reads_it(body: bytes) -> None:
    _same(loads(body), _stdlib(body))
    _same(loads(body.decode("utf-16" if body[:2] == b"\xff\xfe" else "utf-8")), _stdlib(body))


def test_integers_past_64_bits_stay_exact() -> None:
    for n in EDGES:
        assert loads(f"[{n}]".encode()) == [n] and type(loads(f"[{n}]".encode())[0]) is int


def test_orjson_reads_the_common_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stdlib is not reached for an ordinary body, and is for a long integer."""
    calls: list[Any] = []
    real = json.loads
    monkeypatch.setattr(input_guard.json, "loads", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert loads(ACCEPTED[0])["points"][0]["lat"] == 51.16 and calls == []
    assert loads(f"[{2**64}]".encode()) == [2**64] and len(calls) == 1


@pytest.mark.parametrize(
    "body",
    [b"[NaN]", b"[Infinity]", b"[-Infinity]", b"{", b"", b"[1,]", b'"\x01"', b"\xff\xfe\x00"],
)
def test_a_body_the_stdlib_refused_is_refused_with_its_error(body: bytes) -> None:
    with pytest.raises(ValueError) as stdlib:
        _stdlib(body)
    with pytest.raises(ValueError) as ours:
        loads(body)
    assert type(ours.value) is type(stdlib.value) and str(ours.value) == str(stdlib.value)


def test_deep_nesting_is_the_stdlibs_recursion_error_past_orjsons_limit() -> None:
    past_both = b"[" * 1100 + b"]" * 1100  # orjson stops at 1,024 levels
    with pytest.raises(RecursionError):
        loads(past_both)
    within = b"[" * 900 + b"]" * 900
    _same(loads(within), _stdlib(within))


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["0", "9", "5", "1", "a", "-", ".", "e", "٣", " ", "1" * 18]), max_size=60
    )
)
def test_nineteen_digits_in_a_row_are_found_as_the_regular_expression_finds_them(
    parts: list[str],
) -> None:
    """The long-integer rule (digits turned to 0, 19 zeros looked for) says what
    ``[0-9]{19}`` says, in text and in bytes (a non-ASCII digit is no digit)."""
    text = "".join(parts)
    want = re.search("[0-9]{19}", text) is not None
    assert input_guard.has_long_run(text) is want
    assert input_guard.has_long_run(text.encode()) is want
