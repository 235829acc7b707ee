"""Per-point parsing: the fast path agrees with the checked path on every input."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from backend.services.tracking.phone_protocols import from_osmand_params, from_owntracks
from backend.services.tracking.trace_points import (
    Point,
    PointError,
    check_point,
    fast_batch_point,
    parse_time,
    point_from_batch,
)
from backend.settings import Settings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SETTINGS = Settings()
EARLIEST = NOW - timedelta(days=SETTINGS.trace_retention_days)
LATEST = NOW + timedelta(seconds=SETTINGS.trace_future_skew_s)
T = "2026-11-21T10:00:00+05:00"

CASES = [
    {"t": T, "lat": 51.16, "lon": 71.47},
    {"t": T, "lat": 51, "lon": 71, "accuracy_m": 8, "speed_mps": 1.5, "bearing_deg": 90.0},
    {"t": "2026-11-21T05:00:00Z", "lat": 51.16, "lon": 71.47, "battery_pct": 55},
    {"t": T, "lat": 91.0, "lon": 71.47},
    {"t": T, "lat": float("nan"), "lon": 71.47},
    {"t": T, "lat": 51.16, "lon": 71.47, "accuracy_m": -1},
    {"t": T, "lat": 51.16, "lon": 71.47, "speed_mps": 1e9},
    {"t": T, "lat": 51.16, "lon": 71.47, "altitude_m": math.inf},
    {"t": "2026-11-21T10:00:00", "lat": 51.16, "lon": 71.47},
    {"t": "2030-01-01T00:00:00Z", "lat": 51.16, "lon": 71.47},
    {"t": "2020-01-01T00:00:00Z", "lat": 51.16, "lon": 71.47},
    {"t": 1763700000, "lat": 51.16, "lon": 71.47},
    {"t": T, "lat": "51.16", "lon": 71.47},
    {"t": T, "lat": True, "lon": 71.47},
    {"t": T, "lat": 51.16, "lon": 71.47, "person_id": 8},
    {"t": "not a time", "lat": 51.16, "lon": 71.47},
    ["not", "an", "object"],
    # Issue 27/28: numbers the columns cannot hold, on the batch path.
    {"t": T, "lat": 51.16, "lon": 71.47, "altitude_m": 1e300},
    {"t": T, "lat": 51.16, "lon": 71.47, "altitude_m": -1e300},
    {"t": T, "lat": 51.16, "lon": 71.47, "bearing_deg": 5e-324},
    {"t": T, "lat": 51.16, "lon": 71.47, "battery_pct": 1e300},
    {"t": T, "lat": 51.16, "lon": 71.47, "accuracy_m": 5e-324},
    {"t": T, "lat": 51.16, "lon": 71.47, "speed_mps": 1e-40},
    {"t": T, "lat": 10**400, "lon": 71.47},
    {"t": 10**400, "lat": 51.16, "lon": 71.47},
    {"t": T, "lat": 51.16, "lon": 71.47, "altitude_m": 10**400},
]
EXTREMES = CASES[-9:]
REAL_MAX = 3.4e38


def _slow(raw: object) -> object:
    try:
        point = point_from_batch(raw, person_id=7)
        check_point(point, NOW, SETTINGS)
    except PointError as exc:
        return f"rejected: {exc}"
    return point


@pytest.mark.parametrize("raw", CASES, ids=[str(i) for i in range(len(CASES))])
def test_fast_path_accepts_only_what_the_checked_path_accepts(raw: object) -> None:
    fast = fast_batch_point(raw, 7, EARLIEST, LATEST, SETTINGS)
    slow = _slow(raw)
    if fast is None:
        return  # the checked path decides, and words the reason
    assert not isinstance(slow, str), (raw, slow)
    for field in (
        "person_id",
        "t",
        "lat",
        "lon",
        "accuracy_m",
        "speed_mps",
        "bearing_deg",
        "altitude_m",
        "battery_pct",
    ):
        assert getattr(fast, field) == getattr(slow, field), field


def test_fast_path_takes_the_common_case() -> None:
    assert fast_batch_point(CASES[0], 7, EARLIEST, LATEST, SETTINGS) is not None
    assert fast_batch_point(CASES[3], 7, EARLIEST, LATEST, SETTINGS) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1763700000, datetime(2025, 11, 21, 4, 40, tzinfo=UTC)),
        (1763700000000, datetime(2025, 11, 21, 4, 40, tzinfo=UTC)),
        ("1763700000", datetime(2025, 11, 21, 4, 40, tzinfo=UTC)),
        ("2025-11-21T09:40:00+05:00", datetime(2025, 11, 21, 4, 40, tzinfo=UTC)),
        ("2025-11-21 04:40:00Z", datetime(2025, 11, 21, 4, 40, tzinfo=UTC)),
    ],
)
def test_parse_time(value: object, expected: datetime) -> None:
    assert parse_time(value) == expected


def test_protocol_units() -> None:
    """Traccar Client sends knots; OsmAnd (hdop, no accuracy) m/s; OwnTracks km/h."""
    received = NOW
    traccar = from_osmand_params(
        {
            "lat": "1",
            "lon": "2",
            "timestamp": "1763700000",
            "speed": "10",
            "accuracy": "5",
            "extra": "x",
        },
        3,
        received,
    )
    assert isinstance(traccar, Point)
    assert abs((traccar.speed_mps or 0) - 5.14444) < 1e-6 and traccar.accuracy_m == 5
    assert traccar.attributes == {"extra": "x"}
    osmand = from_osmand_params(
        {"lat": "1", "lon": "2", "timestamp": "1763700000000", "speed": "10", "hdop": "12.0"},
        3,
        received,
    )
    assert isinstance(osmand, Point)
    assert osmand.speed_mps == 10 and osmand.accuracy_m == 12 and osmand.attributes is None
    owntracks = from_owntracks(
        {"_type": "location", "lat": 1, "lon": 2, "tst": 1763700000, "vel": 36, "tid": "JD"},
        3,
        received,
        None,
        {},
    )[0]
    assert isinstance(owntracks, Point)
    assert abs((owntracks.speed_mps or 0) - 10.0) < 1e-9 and owntracks.attributes == {"tid": "JD"}


def test_bearing_of_zero_is_kept() -> None:
    """North (0 degrees) is a bearing, not a missing one that falls through to heading."""
    point = from_osmand_params(
        {"lat": "1", "lon": "2", "timestamp": "1763700000", "bearing": "0.0", "heading": "90"},
        3,
        NOW,
    )
    assert isinstance(point, Point) and point.bearing_deg == 0.0


@pytest.mark.parametrize("raw", EXTREMES, ids=[str(i) for i in range(len(EXTREMES))])
def test_extreme_numbers_are_refused_or_fit_the_real_columns(raw: object) -> None:
    """Never an exception other than PointError; what is kept, PostgreSQL's real holds."""
    slow = _slow(raw)
    if isinstance(slow, str):
        assert slow.startswith("rejected: ")
        return
    assert isinstance(slow, Point)
    for field in ("accuracy_m", "speed_mps", "bearing_deg", "altitude_m", "battery_pct"):
        value = getattr(slow, field)
        assert value is None or value == 0 or 1e-30 <= abs(value) <= REAL_MAX, (field, value)
    if any(isinstance(v, float) and abs(v) > 1e6 for v in dict(raw).values()):  # type: ignore[call-overload]
        assert "implausible_field_dropped" in slow.flags
