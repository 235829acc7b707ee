"""The clean batch's checks (trace_points.clean_batch) against the point-by-point fast
path's (fast_batch_point), point by point: a batch of one point is clean exactly when
that point is, and then both read the same values and time."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.services.tracking.trace_points import clean_batch, fast_batch_point
from backend.settings import Settings

SETTINGS = Settings()
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
EARLIEST, LATEST = NOW - timedelta(days=90), NOW + timedelta(minutes=5)
PERSON = 7

_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(min_value=-200, max_value=200),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -0.0, 1e-35, -1e-31, 1e-29, 90, 90.0000001, 360, 20000, -1000.5]),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
)
_times = st.one_of(
    st.datetimes(
        min_value=datetime(2026, 8, 1), max_value=datetime(2026, 12, 6), timezones=st.timezones()
    ).map(lambda t: t.isoformat()),
    st.sampled_from(
        [
            "2026-12-03T10:00:00,5+00:00",
            "2026-12-03T10:00:00+18:00",
            "2026-W48-4T10:00:00+00:00",
            "2026-12-03 10:00:00+05:00",
            "2026-12-03T10:00:00",
            "2026-12-03T10:00:00Z",
            "yesterday",
            "",
        ]
    ),
    st.integers(min_value=0, max_value=2_000_000_000),
)
_points = st.fixed_dictionaries(
    {"t": _times, "lat": _numbers, "lon": _numbers},
    optional={
        "accuracy_m": _numbers,
        "speed_mps": _numbers,
        "bearing_deg": _numbers,
        "altitude_m": _numbers,
        "battery_pct": _numbers,
        "person_id": st.sampled_from([PERSON, 8, None, 2**65]),
        "extra": st.just([1, {"a": None}]),
    },
)

_FIELDS = ("lat", "lon", "accuracy_m", "speed_mps", "bearing_deg", "altitude_m", "battery_pct")


@settings(max_examples=3000, deadline=None)
@given(_points)
def test_a_point_is_clean_exactly_when_the_fast_path_takes_it(raw: dict[str, Any]) -> None:
    body = json.dumps({"points": [raw]}).encode()
    clean = clean_batch(body, PERSON, EARLIEST, LATEST, SETTINGS)
    fast = fast_batch_point(json.loads(body)["points"][0], PERSON, EARLIEST, LATEST, SETTINGS)
    assert (clean is None) == (fast is None), (raw, clean, fast)
    if clean is None or fast is None:
        return
    # Each field an array literal of one value, as PostgreSQL reads it (JSON's forms), or
    # None for a field the point does not have.
    read = {
        name: [None] if literal is None else json.loads(f"[{literal[1:-1]}]")
        for name, literal in clean[0].items()
    }
    assert set(read) == {"t", *_FIELDS} and all(len(values) == 1 for values in read.values())
    assert datetime.fromisoformat(read["t"][0]) == fast.t == clean[2] == clean[3]
    for name in _FIELDS:
        got, want = read[name][0], getattr(fast, name)
        assert got == want and (want is None or math.copysign(1, got) == math.copysign(1, want))
