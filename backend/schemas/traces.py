"""Schemas of movement traces and alerts."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from marshmallow import ValidationError, validates_schema
from marshmallow.fields import Boolean, DateTime, Dict, Float, Function, Integer, List, Nested
from marshmallow.validate import Length, OneOf, Range

from backend.models.registries import ALERT_KINDS, ALERT_STATUSES
from backend.schemas.common import KATO, TEXT, Str


class TracePointIn(Schema):
    t = Str(required=True, metadata={"description": "ISO 8601 with offset, or epoch s/ms"})
    lat = Float(required=True)
    lon = Float(required=True)
    accuracy_m = Float()
    speed_mps = Float()
    bearing_deg = Float()
    altitude_m = Float()
    battery_pct = Float()
    person_id = Integer(metadata={"description": "admin uploads only"})


class TraceBatchIn(Schema):
    points = List(Nested(TracePointIn), required=True, metadata={"maxItems": 5000})


class RejectedPointOut(Schema):
    index = Integer()
    reason = Str()


class TraceResultOut(Schema):
    accepted = Integer()
    duplicates = Integer()
    rejected = List(Nested(RejectedPointOut))


class LastPositionOut(Schema):
    person_id = Integer()
    t = DateTime(attribute="recorded_at")
    location = Function(lambda r: {"lat": r.lat, "lon": r.lon}, metadata={"type": "object"})
    accuracy_m = Float(allow_none=True)
    region_kato = Str(allow_none=True)


class PeriodQuery(Schema):
    from_ = DateTime(required=True, data_key="from")
    to = DateTime(required=True)

    @validates_schema
    def _order(self, data: dict[str, Any], **_: object) -> None:
        for key in ("from_", "to"):
            name = "from" if key == "from_" else key
            if data[key].tzinfo is None:
                raise ValidationError("must carry a UTC offset", name)
            if not 2000 <= data[key].year <= 2100:
                # (year 1 at +05:00 is before year 1 in UTC: Python cannot even hold it)
                raise ValidationError("must be a time in 2000-2100", name)
        if data["to"] <= data["from_"]:
            raise ValidationError("must be after from", "to")


class TrackQuery(PeriodQuery):
    simplify = Float(
        load_default=None,
        validate=Range(min=1, max=5000),
        metadata={
            "description": "Tolerance in metres: each day's line, and the points shown, "
            "keep only the fixes needed to stay within it (stays and trips use every fix)"
        },
    )


class AlertQuery(Schema):
    kind = Str(validate=OneOf(ALERT_KINDS))
    region_kato = Str(validate=KATO)
    status = Str(load_default="open", validate=OneOf(ALERT_STATUSES))
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = Str(validate=Length(max=100))


class AlertOut(Schema):
    id = Integer()
    person_id = Integer()
    kind = Str()
    status = Str()
    region_kato = Str(allow_none=True)
    details = Dict()
    opened_at = DateTime()
    closed_at = DateTime(allow_none=True)
    close_reason = Str(allow_none=True)
    urgent = Boolean(
        dump_only=True, metadata={"description": "an SOS: listed before every other alert"}
    )


class AlertListItemOut(AlertOut):
    """An alert as listed in a page."""


class AlertPage(Schema):
    items = List(Nested(AlertListItemOut))
    next_cursor = Str(allow_none=True)


class AlertResolutionIn(Schema):
    reason = Str(required=True, validate=TEXT)
    confirmed = Boolean(
        load_default=False,
        metadata={"description": "confirm the finding (a left_settlement_region breach)"},
    )
