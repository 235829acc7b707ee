"""The API's JSON parser (backend/api/input_guard.loads): orjson first, the stdlib for
what orjson refuses. Every body must read exactly as the stdlib alone read it, or be
refused as it refused it: the batch path's per-point refusals depend on it."""

from __future__ import annotations

import json
import math

import orjson
import pytest

from backend.api.input_guard import _no_constant, loads


def _stdlib(data: bytes) -> object:
    return json.loads(data, parse_constant=_no_constant)


ACCEPTED = [
    b'{"points": [{"t": "2026-12-04T10:00:00+05:00", "lat": 51.16, "lon": 71.47}]}',
    b'{"a": 1, "a": 2}',  # a repeated key: the last one, as the stdlib
    b'{"n": -0, "f": -0.0, "e": 1E2, "small": 5e-324, "big": 18446744073709551615}',
    b'{"s": "\\u0430\\u0431\\u0432 \\ud83d\\ude00 \\u049b\\u0430\\u0437\\u0430\\u049b"}',
    ("[" + "7" * 400 + "]").encode(),  # beyond 64 bits: orjson refuses, the stdlib reads
    b"[1e400]",  # beyond a double: orjson refuses, the stdlib reads infinity
    b'{"x": "\\ud800"}',  # a lone surrogate: orjson refuses, the stdlib reads
    '{"x": "й"}'.encode("utf-16"),  # UTF-16 with its BOM: only the stdlib reads it
]


@pytest.mark.parametrize("body", ACCEPTED)
def test_a_body_reads_as_the_stdlib_reads_it(body: bytes) -> None:
    got, want = loads(body), _stdlib(body)
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    assert type(got) is type(want)


def test_orjson_takes_the_common_body_and_refuses_what_the_stdlib_then_reads() -> None:
    assert orjson.loads(ACCEPTED[0]) == loads(ACCEPTED[0])
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(ACCEPTED[4])
    assert loads(ACCEPTED[4]) == [int("7" * 400)]
    assert loads(b"[1e400]") == [math.inf]


@pytest.mark.parametrize(
    "body",
    [b"[NaN]", b"[Infinity]", b"[-Infinity]", b"{", b"", b"[1,]", b'"\x01"', b"\xff\xfe\x00"],
)
def test_a_body_the_stdlib_refused_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        _stdlib(body)
    with pytest.raises(ValueError):
        loads(body)


def test_nesting_past_orjsons_limit_is_the_stdlibs_recursion_error() -> None:
    body = b"[" * 5000 + b"]" * 5000
    with pytest.raises(RecursionError):
        loads(body)
    past_orjson = b"[" * 1100 + b"]" * 1100  # orjson stops at 1,024 levels
    with pytest.raises(RecursionError):
        loads(past_orjson)
    within = b"[" * 900 + b"]" * 900
    assert loads(within) == _stdlib(within)
