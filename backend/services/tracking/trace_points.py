"""One location fix: its shape, how a time is read, and the rules every fix must meet.

Only a point that cannot be placed in space and time is refused: our own batch API
reports it back to the caller, who can fix and resend it; a phone's is recorded, since the
apps retry a refused point for ever. Both keep an imperfect point with a flag, dropping
the optional value a phone cannot mean — a poor fix, an implausible speed, a number
beyond range (:func:`settle_optional`). For phones (:func:`settle_phone_point`) a clock a
little fast and a missing timestamp are kept with a flag too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from operator import attrgetter
from types import GenericAlias
from typing import Annotated, Any, cast

import msgspec

from backend.settings import Settings

KNOTS_TO_MPS = 0.514444
KMH_TO_MPS = 1 / 3.6
# Plausible bounds of the optional fields; outside them a phone's value is dropped.
ALTITUDE_RANGE_M = (-1000.0, 20000.0)
# What the apps send for a value they do not know (Traccar Client: speed, heading and
# battery -1; Android: accuracy -1): dropped without a flag. Any other value out of
# range is dropped with ``implausible_field_dropped``.
UNKNOWN = -1.0
# Below this a value is stored as 0: PostgreSQL's ``real`` refuses what underflows it.
REAL_TINY = 1e-30
_REAL_FIELDS = ("accuracy_m", "speed_mps", "bearing_deg", "altitude_m", "battery_pct")

# Why a stored point deserves caution; kept in ``trace_points.flags``.
FLAG_CLOCK_SKEW = "clock_skew"
FLAG_NO_TIMESTAMP = "no_timestamp"
FLAG_POOR_ACCURACY = "poor_accuracy"
FLAG_MOCK = "mock_location"
FLAG_DROPPED_FIELD = "implausible_field_dropped"
# Farther from the last plausible position than anyone could have moved (set on storing).
FLAG_IMPLAUSIBLE_JUMP = "implausible_jump"
# Received later than its device time by more than the live tolerance (set on storing):
# it may open an alert for a human to look at, never alone be evidence of a departure.
FLAG_BACKFILLED = "backfilled"
# Metres of GPS error allowed on top of the fastest movement before a fix is a jump.
JUMP_MARGIN_M = 1000
# Points with these flags neither open nor close region alerts.
UNRELIABLE_FLAGS = (FLAG_POOR_ACCURACY, FLAG_MOCK, FLAG_IMPLAUSIBLE_JUMP)


@dataclass(slots=True)
class Point:
    person_id: int
    t: datetime
    lat: float
    lon: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    bearing_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None
    attributes: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)


class PointError(ValueError):
    """Why one point is refused."""


def parse_time(value: Any) -> datetime:
    """ISO 8601 with offset, or epoch seconds / milliseconds."""
    if isinstance(value, bool):
        raise PointError("t must be a time")
    if isinstance(value, int):
        try:
            value = float(value)
        except OverflowError as exc:  # hundreds of digits: no time a phone could mean
            raise PointError("t is out of range") from exc
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise PointError("t must be a time")
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise PointError("t is out of range") from exc
    if isinstance(value, str):
        text_value = value.strip()
        if text_value.isascii() and text_value.replace(".", "", 1).isdigit():
            return parse_time(float(text_value))
        try:
            parsed = datetime.fromisoformat(text_value.replace(" ", "T", 1))
        except ValueError as exc:
            raise PointError("t is not an ISO 8601 time or epoch number") from exc
        if parsed.tzinfo is None:
            raise PointError("t must carry a UTC offset")
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise PointError("t is out of range") from exc
    raise PointError("t is required")


def number(raw: Mapping[str, Any], key: str, required: bool = False) -> float | None:
    """A finite number from a JSON value or a query-string text; None when absent.

    A required value that is not a usable number is refused. An optional one (not
    finite, beyond a double, not a number at all) reads as NaN: the point keeps its place
    and time, and :func:`settle_optional` drops the value with a flag."""
    value = raw.get(key)
    kind = type(value)
    if kind is float:  # the common case, kept cheap: this runs per field
        if value != value or value in (math.inf, -math.inf):
            return _unusable(key, required, "must be finite")
        return cast(float, value)
    if kind is int:
        try:
            return float(cast(int, value))
        except OverflowError:  # an integer of hundreds of digits
            return _unusable(key, required, "is out of range")
    if value is None or value == "":
        if required:
            raise PointError(f"{key} is required")
        return None
    if kind is bool:
        return _unusable(key, required, "must be a number")
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return _unusable(key, required, "must be a number")
    if not math.isfinite(result):
        return _unusable(key, required, "must be finite")
    return result


def _unusable(key: str, required: bool, why: str) -> float:
    if required:
        raise PointError(f"{key} {why}")
    return math.nan


def _check_place(point: Point) -> None:
    if not -90 <= point.lat <= 90:
        raise PointError("lat must be between -90 and 90")
    if not -180 <= point.lon <= 180:
        raise PointError("lon must be between -180 and 180")


def accepted_window(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The earliest and latest time a point may carry when received at ``now``: no older
    than the trace retention, no further ahead than the allowed clock skew."""
    return (
        now - timedelta(days=settings.trace_retention_days),
        now + timedelta(seconds=settings.trace_future_skew_s),
    )


def _check_age(point: Point, earliest: datetime, settings: Settings) -> None:
    if point.t < earliest:
        raise PointError(f"t is older than the {settings.trace_retention_days}-day retention")


def _flag_accuracy(point: Point, settings: Settings) -> None:
    if point.accuracy_m is not None and point.accuracy_m > settings.trace_poor_accuracy_m:
        point.flags.append(FLAG_POOR_ACCURACY)


def check_point(point: Point, now: datetime, settings: Settings) -> None:
    """The batch API's checks: a point that cannot be placed in space and time is
    reported back to the caller, who can fix and resend it; its optional values are
    settled as a phone's are (:func:`settle_optional`), so that the batch API takes every
    value a phone's request does."""
    _check_place(point)
    earliest, latest = accepted_window(now, settings)
    if point.t > latest:
        raise PointError("t is in the future")
    _check_age(point, earliest, settings)
    settle_optional(point, settings)


def settle_phone_point(point: Point, now: datetime, settings: Settings) -> None:
    """A phone's point: refused only when it cannot be placed in space and time.

    A clock ahead within the tolerance is kept with ``clock_skew``; beyond it the point
    is refused. Implausible optional values are dropped with a flag, never the point.
    """
    _check_place(point)
    ahead = (point.t - now).total_seconds()
    if ahead > settings.trace_clock_skew_tolerance_s:
        raise PointError(
            f"t is {ahead / 60:.0f} min in the future, beyond the "
            f"{settings.trace_clock_skew_tolerance_s / 60:.0f}-min clock tolerance"
        )
    if ahead > settings.trace_clock_skew_flag_s:
        point.flags.append(FLAG_CLOCK_SKEW)
    _check_age(point, accepted_window(now, settings)[0], settings)
    settle_optional(point, settings)


def settle_optional(point: Point, settings: Settings) -> None:
    """A point's optional values as they are kept: what a phone cannot mean (out of range,
    not a usable number) is dropped with a flag, what it sends for "unknown" (-1) is
    dropped without one, a poor fix is flagged."""
    dropped = False
    for name in _REAL_FIELDS:  # not a usable number (:func:`number`)
        value = getattr(point, name)
        if value is not None and value != value:
            setattr(point, name, None)
            dropped = True
    if point.accuracy_m is not None and point.accuracy_m < 0:
        dropped = dropped or point.accuracy_m != UNKNOWN  # apps send -1 for "unknown"
        point.accuracy_m = None
    if point.speed_mps is not None and not 0 <= point.speed_mps <= settings.trace_max_speed_mps:
        dropped = dropped or point.speed_mps != UNKNOWN  # -1 is "unknown", not implausible
        point.speed_mps = None
    _flag_accuracy(point, settings)
    if point.accuracy_m is not None and point.accuracy_m > settings.trace_max_accuracy_m:
        point.accuracy_m, dropped = None, True  # flagged poor above; the value means nothing
    _drop_implausible(point, dropped)


def _drop_implausible(point: Point, dropped: bool = False) -> None:
    """Bearing, altitude and battery outside what a phone can mean are dropped with a
    flag, never the point; what remains fits the ``real`` columns (no overflow, tiny
    values read as the zero they are, so PostgreSQL never refuses the statement)."""
    if point.bearing_deg is not None and not 0 <= point.bearing_deg <= 360:
        dropped = dropped or point.bearing_deg != UNKNOWN
        point.bearing_deg = None
    if point.altitude_m is not None and not (
        ALTITUDE_RANGE_M[0] <= point.altitude_m <= ALTITUDE_RANGE_M[1]
    ):
        point.altitude_m, dropped = None, True
    if point.battery_pct is not None and not 0 <= point.battery_pct <= 100:
        dropped = dropped or point.battery_pct != UNKNOWN
        point.battery_pct = None
    for name in _REAL_FIELDS:
        value = getattr(point, name)
        if value is not None and -REAL_TINY < value < REAL_TINY:
            setattr(point, name, 0.0)
    if dropped:
        point.flags.append(FLAG_DROPPED_FIELD)


_BATCH_OPTIONAL = ("accuracy_m", "speed_mps", "bearing_deg", "altitude_m", "battery_pct")


def point_from_batch(raw: Any, person_id: int | None) -> Point:
    """A point of our own batch format; admins name the person on each point."""
    if not isinstance(raw, Mapping):
        raise PointError("each point must be an object")
    if person_id is None:
        pid = raw.get("person_id")
        if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**63:
            raise PointError("person_id is required on each point for admin uploads")
        person_id = pid
    elif "person_id" in raw and raw["person_id"] != person_id:
        raise PointError("a device may only send its own person's points")
    return Point(
        person_id,
        parse_time(raw.get("t")),
        number(raw, "lat", required=True) or 0.0,
        number(raw, "lon", required=True) or 0.0,
        accuracy_m=number(raw, "accuracy_m"),
        speed_mps=number(raw, "speed_mps"),
        bearing_deg=number(raw, "bearing_deg"),
        altitude_m=number(raw, "altitude_m"),
        battery_pct=number(raw, "battery_pct"),
    )


_NUMBER = (float, int)


def fast_batch_point(
    raw: Any, person_id: int, earliest: datetime, latest: datetime, settings: Settings
) -> Point | None:
    """The common case of a device batch, checked inline; None sends the point the long way.

    A clean point — ISO time with an offset inside the window, numeric coordinates and
    fields in range — is accepted here at a fraction of the cost; anything else goes
    through :func:`point_from_batch` and :func:`check_point`, which also word the reason.
    """
    if type(raw) is not dict:
        return None
    fields: dict[str, Any] = raw
    # Any, not Any | None: the type checks just below are what narrows them.
    t: Any = fields.get("t")
    lat: Any = fields.get("lat")
    lon: Any = fields.get("lon")
    if type(t) is not str or type(lat) not in _NUMBER or type(lon) not in _NUMBER:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # also false for NaN
        return None
    if "person_id" in raw and raw["person_id"] != person_id:
        return None
    try:
        moment = datetime.fromisoformat(t)
    except ValueError:
        return None
    if moment.tzinfo is None or not earliest <= moment <= latest:
        return None
    values: dict[str, float] = {}
    for key in _BATCH_OPTIONAL:
        value = fields.get(key)
        if value is None:
            continue
        if type(value) not in _NUMBER or value != value or value in (math.inf, -math.inf):
            return None
        if type(value) is int and not -(2**53) < value < 2**53:
            return None  # hundreds of digits overflow a float: the long way says so
        values[key] = float(value)
    accuracy, speed = values.get("accuracy_m"), values.get("speed_mps")
    if accuracy is not None and not 0 <= accuracy <= settings.trace_max_accuracy_m:
        return None
    if speed is not None and not 0 <= speed <= settings.trace_max_speed_mps:
        return None
    bearing, altitude, battery = (values.get(k) for k in _BATCH_OPTIONAL[2:])
    if (
        (bearing is not None and not 0 <= bearing <= 360)
        or (altitude is not None and not ALTITUDE_RANGE_M[0] <= altitude <= ALTITUDE_RANGE_M[1])
        or (battery is not None and not 0 <= battery <= 100)
        or any(v and -REAL_TINY < v < REAL_TINY for v in values.values())
    ):
        return None  # the long way drops the value with a flag
    point = Point(
        person_id,
        moment.astimezone(UTC),
        float(lat),
        float(lon),
        accuracy_m=accuracy,
        speed_mps=speed,
        bearing_deg=values.get("bearing_deg"),
        altitude_m=values.get("altitude_m"),
        battery_pct=values.get("battery_pct"),
    )
    _flag_accuracy(point, settings)
    return point


# A device's whole batch, read and checked at once (:func:`clean_batch`).
_Bounded = tuple[float, float]


@lru_cache(maxsize=8)
def _clean_batch_codec(accuracy: _Bounded, speed: _Bounded) -> tuple[Any, Any]:
    """The decoder of a batch whose every point is clean, and the encoder of its points.

    msgspec checks the types and bounds of every field in C as it reads the body: a
    finite number (an integer read as one, never ``true``), inside the bounds the
    point-by-point path checks, ``t`` a text. What it does not know (the time's form
    and window, the device, values too small for ``real``) :func:`clean_batch` checks;
    it then puts each point's time back as a UTC datetime, which the encoder writes.
    """

    def within(low: float, high: float) -> Any:
        return Annotated[float, msgspec.Meta(ge=low, le=high)]

    point = msgspec.defstruct(
        "CleanPoint",
        [
            ("t", str),
            ("lat", within(-90, 90)),
            ("lon", within(-180, 180)),
            ("accuracy_m", within(*accuracy) | None, None),
            ("speed_mps", within(*speed) | None, None),
            ("bearing_deg", within(0, 360) | None, None),
            ("altitude_m", within(*ALTITUDE_RANGE_M) | None, None),
            ("battery_pct", within(0, 100) | None, None),
            # Present, it must be the device's own: null is not (as point by point).
            ("person_id", int | msgspec.UnsetType, msgspec.UNSET),
        ],
        omit_defaults=True,
    )
    batch = msgspec.defstruct("CleanBatch", [("points", GenericAlias(list, (point,)))])
    return msgspec.json.Decoder(batch), msgspec.json.Encoder()


def _array_literal(encode: msgspec.json.Encoder, values: tuple[Any, ...]) -> str | None:
    """One field of a clean batch as PostgreSQL's array literal: the JSON array msgspec
    writes, in braces. A JSON number, ``null`` and the JSON string msgspec writes for a
    UTC datetime (no backslash, quote, brace or space inside) are read by ``float8[]``
    and ``timestamptz[]`` as they are. Only for those: a text's JSON escapes (``\n``,
    ``\u00e9``) mean something else in an array literal. A batch of 1,000 costs the
    storing statement about 1 ms less of PostgreSQL's CPU (4.5 against 5.6) than the
    same points as JSON objects, whose every key ``json_to_recordset`` looks up.

    A field no point has is None, not a column of ``null``: ``unnest`` of several arrays
    gives a shorter one (a NULL array, none) NULLs for the rows it lacks."""
    if all(value is None for value in values):
        return None
    return "{" + encode.encode(values)[1:-1].decode() + "}"


# The fields of a clean point PostgreSQL reads, in the order of its ``unnest``.
CLEAN_FIELDS = (
    "t", "lat", "lon", "accuracy_m", "speed_mps", "bearing_deg", "altitude_m", "battery_pct"
)  # fmt: skip
_CLEAN_FIELDS_OF = attrgetter(*CLEAN_FIELDS)


def clean_batch(
    body: bytes, person_id: int, earliest: datetime, latest: datetime, settings: Settings
) -> tuple[dict[str, str | None], int, datetime, datetime, frozenset[date]] | None:
    """A device's batch whose every point :func:`fast_batch_point` would accept as it
    stands: its points by field, each a PostgreSQL array literal or None where no point
    has it (:data:`CLEAN_FIELDS`, see :func:`_array_literal`), how many, the first and
    last time, and the (UTC) days its points fall on; None when any point is not, and
    the batch goes point by point.

    Each time goes to PostgreSQL as Python read it (UTC, RFC 3339), as the point-by-point
    path sends it: PostgreSQL never reads a form only Python understands (a decimal
    comma, an offset of 18 hours, a week date, a seventh decimal it would round where
    Python cuts). The common case of a phone uploading its backlog: no point is built.
    """
    decode, encode = _clean_batch_codec(
        (0.0, settings.trace_max_accuracy_m), (0.0, settings.trace_max_speed_mps)
    )
    try:
        points = decode.decode(body).points
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # (msgspec skips an unknown field nested too deeply with a RecursionError)
    if not points:
        return None
    # The times by column, in C where it can be: ``fromisoformat`` over the column, the
    # window from its minimum and maximum, and the encoder writing each as a datetime.
    # Parsing, converting and formatting each point's time in a loop of Python cost
    # twice as much (1.2 ms a batch of 1,000 against 0.58).
    if any(p.person_id is not msgspec.UNSET and p.person_id != person_id for p in points):
        return None
    try:
        moments = list(map(datetime.fromisoformat, [p.t for p in points]))
        first, last = min(moments), max(moments)
        # A time without an offset cannot be compared with one that has it (TypeError),
        # nor with the window's bounds: a batch with any such time is not clean.
        if not earliest <= first <= last <= latest:
            return None
    except (ValueError, TypeError):
        return None
    if any(  # the fields of _REAL_FIELDS, read as attributes (getattr by name is slower)
        value and -REAL_TINY < value < REAL_TINY
        for p in points
        for value in (p.accuracy_m, p.speed_mps, p.bearing_deg, p.altitude_m, p.battery_pct)
    ):
        return None  # the long way stores it as 0
    for p, moment in zip(points, moments, strict=True):
        # Each time goes as Python read it, in UTC: the encoder writes the datetime in
        # RFC 3339 (``…Z``), which PostgreSQL reads as the same instant.
        p.t = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    days = frozenset(p.t.date() for p in points)
    columns = zip(CLEAN_FIELDS, zip(*map(_CLEAN_FIELDS_OF, points), strict=True), strict=True)
    return (
        {name: _array_literal(encode, values) for name, values in columns},
        len(points),
        first.astimezone(UTC),
        last.astimezone(UTC),
        days,
    )
