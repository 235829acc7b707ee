"""Ingesting movement traces: validate each point, store each (person, time) once.

A batch is validated point by point in plain Python (it is the hot path: thousands of
points per request), the good points are COPYed into a per-connection staging table and
moved into the partitioned ``trace_points`` by one set-based statement that also keeps
the last position and marks the persons for alert evaluation. Bad points are reported
with their index and reason; the good ones in the same batch are kept.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.errors import NotFound
from backend.models import Person
from backend.services import trace_storage
from backend.settings import Settings

KNOTS_TO_MPS = 0.514444
KMH_TO_MPS = 1 / 3.6


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
    t_text: str | None = None  # the time as the client wrote it, when already ISO with offset


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    persons: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


class PointError(ValueError):
    """Why one point is rejected."""


def parse_time(value: Any) -> datetime:
    """ISO 8601 with offset, or epoch seconds / milliseconds."""
    if isinstance(value, bool):
        raise PointError("t must be a time")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise PointError("t must be a time")
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise PointError("t is out of range") from exc
    if isinstance(value, str):
        text_value = value.strip()
        if text_value.replace(".", "", 1).isdigit():
            return parse_time(float(text_value))
        try:
            parsed = datetime.fromisoformat(text_value.replace(" ", "T", 1))
        except ValueError as exc:
            raise PointError("t is not an ISO 8601 time or epoch number") from exc
        if parsed.tzinfo is None:
            raise PointError("t must carry a UTC offset")
        return parsed.astimezone(UTC)
    raise PointError("t is required")


def _number(raw: Mapping[str, Any], key: str, required: bool = False) -> float | None:
    value = raw.get(key)
    kind = type(value)
    if kind is float or kind is int:  # the common case, kept cheap: this runs per field
        if value != value or value in (math.inf, -math.inf):
            raise PointError(f"{key} must be finite")
        return float(value)
    if value is None or value == "":
        if required:
            raise PointError(f"{key} is required")
        return None
    if kind is bool:
        raise PointError(f"{key} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise PointError(f"{key} must be a number") from exc
    if not math.isfinite(number):
        raise PointError(f"{key} must be finite")
    return number


def check_point(point: Point, now: datetime, settings: Settings) -> None:
    """Range, time and sanity checks shared by every protocol."""
    if not -90 <= point.lat <= 90:
        raise PointError("lat must be between -90 and 90")
    if not -180 <= point.lon <= 180:
        raise PointError("lon must be between -180 and 180")
    if point.t > now + timedelta(seconds=settings.trace_future_skew_s):
        raise PointError("t is in the future")
    if point.t < now - timedelta(days=settings.trace_retention_days):
        raise PointError(f"t is older than the {settings.trace_retention_days}-day retention")
    if point.accuracy_m is not None and not 0 <= point.accuracy_m <= settings.trace_max_accuracy_m:
        raise PointError(f"accuracy_m must be between 0 and {settings.trace_max_accuracy_m:g}")
    if point.speed_mps is not None and not 0 <= point.speed_mps <= settings.trace_max_speed_mps:
        raise PointError(f"speed_mps must be between 0 and {settings.trace_max_speed_mps:g}")


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
    optional = {key: _number(raw, key) for key in _BATCH_OPTIONAL if key in raw}
    return Point(
        person_id,
        parse_time(raw.get("t")),
        _number(raw, "lat", required=True) or 0.0,
        _number(raw, "lon", required=True) or 0.0,
        **optional,
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
    t, lat, lon = raw.get("t"), raw.get("lat"), raw.get("lon")
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
    if moment.tzinfo is None or not earliest <= moment <= latest or "," in t or '"' in t:
        return None
    values = {}
    for key in _BATCH_OPTIONAL:
        value = raw.get(key)
        if value is None:
            continue
        if type(value) not in _NUMBER or value != value or value in (math.inf, -math.inf):
            return None
        values[key] = float(value)
    accuracy, speed = values.get("accuracy_m"), values.get("speed_mps")
    if accuracy is not None and not 0 <= accuracy <= settings.trace_max_accuracy_m:
        return None
    if speed is not None and not 0 <= speed <= settings.trace_max_speed_mps:
        return None
    return Point(person_id, moment.astimezone(UTC), float(lat), float(lon), t_text=t, **values)


OSMAND_KNOWN = {"id", "deviceid", "lat", "lon", "timestamp", "accuracy", "hdop", "speed",
                "bearing", "heading", "altitude", "batt"}  # fmt: skip


def point_from_osmand(params: Mapping[str, str], person_id: int) -> Point:
    """OsmAnd / Traccar Client: speed in knots (as Traccar reads it), unknown keys kept."""
    hdop = _number(params, "hdop")
    accuracy = _number(params, "accuracy")
    attributes = {k: v for k, v in params.items() if k not in OSMAND_KNOWN}
    if hdop is not None:
        attributes["hdop"] = hdop
    speed = _number(params, "speed")
    return Point(
        person_id=person_id,
        t=parse_time(params.get("timestamp")),
        lat=_number(params, "lat", required=True) or 0.0,
        lon=_number(params, "lon", required=True) or 0.0,
        accuracy_m=accuracy,
        speed_mps=speed * KNOTS_TO_MPS if speed is not None else None,
        bearing_deg=_number(params, "bearing") or _number(params, "heading"),
        altitude_m=_number(params, "altitude"),
        battery_pct=_number(params, "batt"),
        attributes=attributes or None,
    )


OWNTRACKS_KNOWN = {"_type", "lat", "lon", "tst", "acc", "vel", "batt", "alt", "cog"}


def point_from_owntracks(message: Mapping[str, Any], person_id: int) -> Point:
    """OwnTracks HTTP mode ``_type: location``: ``vel`` in km/h, ``tst`` epoch seconds."""
    speed = _number(message, "vel")
    attributes = {k: v for k, v in message.items() if k not in OWNTRACKS_KNOWN}
    return Point(
        person_id=person_id,
        t=parse_time(message.get("tst")),
        lat=_number(message, "lat", required=True) or 0.0,
        lon=_number(message, "lon", required=True) or 0.0,
        accuracy_m=_number(message, "acc"),
        speed_mps=speed * KMH_TO_MPS if speed is not None else None,
        bearing_deg=_number(message, "cog"),
        altitude_m=_number(message, "alt"),
        battery_pct=_number(message, "batt"),
        attributes=attributes or None,
    )


_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS trace_stage (
    person_id bigint, recorded_at timestamptz, lon float8, lat float8, accuracy_m real,
    speed_mps real, bearing_deg real, altitude_m real, battery_pct real, attributes jsonb
) ON COMMIT DELETE ROWS
"""
_MOVE = text(
    """
    WITH ins AS (
        INSERT INTO trace_points (person_id, recorded_at, geom, accuracy_m, speed_mps,
                                  bearing_deg, altitude_m, battery_pct, source, attributes)
        SELECT person_id, recorded_at, ST_SetSRID(ST_MakePoint(lon, lat), 4326), accuracy_m,
               speed_mps, bearing_deg, altitude_m, battery_pct, :source, attributes
        FROM trace_stage
        ON CONFLICT DO NOTHING
        RETURNING person_id, recorded_at, geom, accuracy_m
    ), newest AS (
        INSERT INTO trace_last_positions (person_id, recorded_at, geom, accuracy_m)
        SELECT DISTINCT ON (person_id) person_id, recorded_at, geom, accuracy_m
        FROM ins ORDER BY person_id, recorded_at DESC
        ON CONFLICT (person_id) DO UPDATE SET recorded_at = EXCLUDED.recorded_at,
            geom = EXCLUDED.geom, accuracy_m = EXCLUDED.accuracy_m
        WHERE EXCLUDED.recorded_at > trace_last_positions.recorded_at
    ), dirty AS (
        INSERT INTO alert_dirty (person_id)
        SELECT DISTINCT person_id FROM ins
        ON CONFLICT (person_id) DO UPDATE SET marked_at = clock_timestamp()
    )
    SELECT count(*) FROM ins
    """
)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def store_points(session: Session, points: list[Point], source: str) -> int:
    """Write valid points in one COPY and one statement; returns how many were new."""
    if not points:
        return 0
    bind = session.get_bind()
    days = {p.t.date() for p in points}
    trace_storage.ensure_partitions_for(bind, days)  # type: ignore[arg-type]
    try:
        with session.begin_nested():
            return _copy_and_move(session, points, source)
    except IntegrityError as exc:
        # A partition this process believed in was dropped or never made (e.g. after a
        # restore): forget the cache, create what is missing and try once more.
        if getattr(exc.orig, "pgcode", None) != "23514":
            raise
        trace_storage.forget_known_partitions()
        trace_storage.ensure_partitions_for(bind, days)  # type: ignore[arg-type]
        with session.begin_nested():
            return _copy_and_move(session, points, source)


def _copy_and_move(session: Session, points: list[Point], source: str) -> int:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for p in points:
        writer.writerow(
            (p.person_id, p.t_text or p.t.isoformat(), p.lon, p.lat, _csv_value(p.accuracy_m),
             _csv_value(p.speed_mps), _csv_value(p.bearing_deg), _csv_value(p.altitude_m),
             _csv_value(p.battery_pct), _csv_value(p.attributes))
        )  # fmt: skip
    buf.seek(0)
    connection = session.connection()
    # Always "IF NOT EXISTS": a rolled-back transaction also rolls back the temp table.
    connection.execute(text(_STAGE_DDL))
    raw = connection.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.copy_expert("COPY trace_stage FROM STDIN WITH (FORMAT csv)", buf)
    return session.execute(_MOVE, {"source": source}).scalar_one()


def ingest(
    session: Session,
    raws: Iterable[Any],
    build: Any,
    source: str,
    settings: Settings,
    now: datetime | None = None,
    device_person: int | None = None,
) -> IngestResult:
    """Validate every raw point with ``build(raw) -> Point`` and store the good ones.

    With ``device_person`` (our batch format from a device) clean points take the
    inline fast path first.
    """
    now = now or datetime.now(UTC)
    earliest = now - timedelta(days=settings.trace_retention_days)
    latest = now + timedelta(seconds=settings.trace_future_skew_s)
    result = IngestResult()
    good: list[tuple[int, Point]] = []
    for index, raw in enumerate(raws):
        point = None
        if device_person is not None:
            point = fast_batch_point(raw, device_person, earliest, latest, settings)
        if point is None:
            try:
                point = build(raw)
                check_point(point, now, settings)
            except PointError as exc:
                result.rejected.append({"index": index, "reason": str(exc)})
                continue
        good.append((index, point))
    persons = {p.person_id for _, p in good}
    if persons:
        known = set(
            session.scalars(
                select(Person.id).where(Person.id.in_(bindparam("ids", expanding=True))),
                {"ids": list(persons)},
            )
        )
        for index, p in good:
            if p.person_id not in known:
                result.rejected.append({"index": index, "reason": "person_id is unknown"})
        good = [(i, p) for i, p in good if p.person_id in known]
    result.persons = {p.person_id for _, p in good}
    result.accepted = store_points(session, [p for _, p in good], source)
    result.duplicates = len(good) - result.accepted
    result.rejected.sort(key=lambda r: r["index"])
    return result


def last_position(session: Session, person_id: int) -> dict[str, Any]:
    row = session.execute(
        text(
            """
            SELECT l.recorded_at, ST_Y(l.geom) AS lat, ST_X(l.geom) AS lon, l.accuracy_m,
                   (SELECT region_kato FROM region_parts rp
                     WHERE ST_Intersects(rp.geom, l.geom) LIMIT 1) AS region_kato
            FROM trace_last_positions l WHERE l.person_id = :p
            """
        ),
        {"p": person_id},
    ).first()
    if row is None:
        raise NotFound(f"no position known for person {person_id}")
    return {
        "person_id": person_id,
        "t": row.recorded_at,
        "location": {"lat": row.lat, "lon": row.lon},
        "accuracy_m": row.accuracy_m,
        "region_kato": row.region_kato,
    }


def day_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
