"""Request and response schemas (marshmallow). The API validates with them and the
OpenAPI document is generated from them; bulk import validates rows with the same ones.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, validates_schema
from marshmallow.fields import Boolean, Date, DateTime, Dict, Float, Integer, List, Nested, String
from marshmallow.validate import Length, OneOf, Range, Regexp

from backend.models.person import CATEGORIES


class Str(String):
    """A string PostgreSQL can store: no NUL characters, no lone surrogates."""

    def _deserialize(self, value: object, attr: str | None, data: object, **kwargs: object) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError("must be valid Unicode text") from exc
        return text


# Largest id PostgreSQL's bigint holds; larger ones are invalid, never a 500.
ID = Range(min=1, max=2**63 - 1)
KATO = Regexp(r"^[0-9]{9}$", error="must be a 9-digit KATO code")
TWELVE_DIGITS = Regexp(r"^[0-9]{12}$", error="must be exactly 12 digits")
NAME = Length(min=1, max=100)
TEXT = Length(min=1, max=500)


class LocationIn(Schema):
    lat = Float(required=True, validate=Range(-90, 90), allow_nan=False)
    lon = Float(required=True, validate=Range(-180, 180), allow_nan=False)


class DocumentIn(Schema):
    type = Str(required=True, validate=Length(min=1, max=32))
    number = Str(required=True, validate=Length(min=1, max=32))


class PersonIn(Schema):
    iin = Str(validate=TWELVE_DIGITS, metadata={"description": "omit for a foreigner"})
    surname = Str(required=True, validate=NAME)
    given_name = Str(required=True, validate=NAME)
    birth_date = Date(required=True)
    sex = Str(required=True, validate=OneOf(["M", "F"]))
    citizenship = Str(
        required=True, validate=Regexp(r"^[A-Z]{3}$", error="must be an ISO 3166 alpha-3 code")
    )
    category = Str(required=True, validate=OneOf(CATEGORIES))
    document = Nested(DocumentIn)


class PersonQuery(Schema):
    iin = Str(validate=TWELVE_DIGITS)
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = Str(validate=Length(max=100))


class RegistrationIn(Schema):
    person_id = Integer(required=True, validate=ID)
    kind = Str(required=True, validate=OneOf(["permanent", "temporary"]))
    address = Str(validate=TEXT, allow_none=True)
    location = Nested(LocationIn, allow_none=True)
    settlement_kato = Str(validate=KATO, allow_none=True)
    valid_from = Date(required=True)
    valid_to = Date(allow_none=True, metadata={"description": "empty for open-ended"})

    @validates_schema
    def _place(self, data: dict, **_: object) -> None:
        if data.get("location") is None and data.get("settlement_kato") is None:
            raise ValidationError("give location and/or settlement_kato", "location")
        if data.get("valid_to") and data["valid_to"] < data["valid_from"]:
            raise ValidationError("must not be before valid_from", "valid_to")


class RegistrationOut(Schema):
    id = Integer()
    person_id = Integer()
    kind = Str()
    address = Str(allow_none=True)
    region_kato = Str()
    settlement_kato = Str(allow_none=True)
    location = Nested(LocationIn)
    valid_from = Date()
    valid_to = Date(allow_none=True)
    ended_on = Date(allow_none=True)


class PermitOut(Schema):
    id = Integer()
    number = Str()
    person_id = Integer()
    employer_bin = Str(allow_none=True)
    region_kato = Str()
    valid_from = Date()
    valid_to = Date()
    status = Str()


class PersonRegistrationOut(RegistrationOut):
    """A registration as shown inside a person card."""


class PersonPermitOut(PermitOut):
    """A permit as shown inside a person card."""


class PersonOut(Schema):
    id = Integer()
    iin = Str()
    iin_generated = Boolean()
    surname = Str()
    given_name = Str()
    birth_date = Date()
    sex = Str()
    citizenship = Str()
    category = Str()
    document = Nested(DocumentIn, allow_none=True)
    is_demo = Boolean()
    registrations = List(Nested(PersonRegistrationOut))
    permits = List(Nested(PersonPermitOut))


class PersonPage(Schema):
    items = List(Nested(PersonOut))
    next_cursor = Str(allow_none=True)


class EmployerIn(Schema):
    bin = Str(required=True, validate=TWELVE_DIGITS)
    name = Str(required=True, validate=Length(min=1, max=300))


class EmployerOut(Schema):
    bin = Str()
    name = Str()


class PermitIn(Schema):
    person_id = Integer(required=True, validate=ID)
    employer_bin = Str(validate=TWELVE_DIGITS, allow_none=True)
    region_kato = Str(required=True, validate=KATO)
    valid_from = Date(required=True)
    valid_to = Date(required=True)


class PermitExtensionIn(Schema):
    valid_to = Date(required=True)


class PermitRevocationIn(Schema):
    reason = Str(required=True, validate=TEXT)


class HolderOut(Schema):
    person_id = Integer()
    surname = Str()
    given_name = Str()
    iin = Str()


class EmployerPermitOut(PermitOut):
    holder = Nested(HolderOut)


class EmployerPermitPage(Schema):
    items = List(Nested(EmployerPermitOut))
    next_cursor = Str(allow_none=True)


class PageQuery(Schema):
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = Str(validate=Length(max=100))


class TerminationNoticeIn(Schema):
    permit_id = Integer(required=True, validate=ID)
    last_working_day = Date(required=True)
    reason = Str(required=True, validate=TEXT)


class TerminationNoticeOut(Schema):
    id = Integer()
    permit_id = Integer()
    last_working_day = Date()
    deadline = Date()
    late = Boolean()
    status = Str(metadata={"description": "the permit's new status"})


class CheckIn(Schema):
    iin = Str(validate=TWELVE_DIGITS)
    document_number = Str(validate=Length(min=1, max=32))
    location = Nested(LocationIn, required=True)

    @validates_schema
    def _who(self, data: dict, **_: object) -> None:
        if bool(data.get("iin")) == bool(data.get("document_number")):
            raise ValidationError("give exactly one of iin or document_number", "iin")


class CheckPersonOut(Schema):
    id = Integer()
    iin = Str()
    surname = Str()
    given_name = Str()
    birth_date = Date()
    citizenship = Str()
    category = Str()


class CheckRegistrationOut(Schema):
    kind = Str()
    address = Str(allow_none=True)
    region_kato = Str()
    settlement_kato = Str(allow_none=True)
    valid_to = Date(allow_none=True)


class CheckPermitOut(Schema):
    number = Str()
    status = Str()
    region_kato = Str()
    valid_to = Date()
    employer_bin = Str(allow_none=True)


class CheckOut(Schema):
    check_id = Integer()
    checked_at = DateTime()
    verdict = Str(metadata={"enum": ["ok", "violation", "not_found"]})
    reasons = List(Str())
    region_kato = Str(allow_none=True)
    person = Nested(CheckPersonOut, allow_none=True)
    registration = Nested(CheckRegistrationOut, allow_none=True)
    permit = Nested(CheckPermitOut, allow_none=True)


class NearQuery(Schema):
    lat = Float(required=True, validate=Range(-90, 90), allow_nan=False)
    lon = Float(required=True, validate=Range(-180, 180), allow_nan=False)
    radius_m = Integer(load_default=500, validate=Range(min=1))
    limit = Integer(load_default=50, validate=Range(1, 500))


class NearItemOut(Schema):
    registration_id = Integer()
    person_id = Integer()
    surname = Str()
    given_name = Str()
    kind = Str()
    address = Str(allow_none=True)
    distance_m = Float()
    location = Nested(LocationIn)


class NearOut(Schema):
    radius_m = Integer(metadata={"description": "the radius used, after the cap"})
    items = List(Nested(NearItemOut))


class JobOut(Schema):
    id = Str()
    kind = Str()
    status = Str()
    progress = Integer()
    result = Dict(allow_none=True)
    error = Str(allow_none=True)
    created_at = DateTime()
    finished_at = DateTime(allow_none=True)


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
    t = DateTime()
    location = Nested(LocationIn)
    accuracy_m = Float(allow_none=True)
    region_kato = Str(allow_none=True)


class PeriodQuery(Schema):
    from_ = DateTime(required=True, data_key="from")
    to = DateTime(required=True)

    @validates_schema
    def _order(self, data: dict, **_: object) -> None:
        if data["to"] <= data["from_"]:
            raise ValidationError("must be after from", "to")
        for key in ("from_", "to"):
            if data[key].tzinfo is None:
                raise ValidationError("must carry a UTC offset", "from" if key == "from_" else key)


class AlertQuery(Schema):
    kind = Str(validate=OneOf([
        "left_permit_region", "left_settlement_region", "permit_expired_present",
        "silent_device", "residence_mismatch", "late_termination_notice",
    ]))  # fmt: skip
    region_kato = Str(validate=KATO)
    status = Str(load_default="open", validate=OneOf(["open", "closed"]))
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


YEAR = Range(2000, 2100)


class QuotaIn(Schema):
    kandas = Integer(required=True, validate=Range(0, 1_000_000))
    resettlers = Integer(required=True, validate=Range(0, 1_000_000))


class QuotaPairOut(Schema):
    kandas = Integer()
    resettlers = Integer()


class QuotaOut(Schema):
    year = Integer()
    region_kato = Str()
    kandas = Integer()
    resettlers = Integer()
    set = Boolean()
    fill = Nested(QuotaPairOut)
    remaining = Nested(QuotaPairOut)


class SettlementListIn(Schema):
    settlements = List(Str(validate=KATO), required=True, validate=Length(max=5000))


class SettlementListOut(Schema):
    year = Integer()
    region_kato = Str()
    settlements = List(Str())
    published_at = DateTime(allow_none=True)
    deadline = Date()
    published_on_time = Boolean()


class SupportIn(Schema):
    housing_subsidy_mrp_per_month = Float(validate=Range(0, 1000), allow_nan=False)
    housing_cost_kzt = Float(validate=Range(0, 10**10), allow_nan=False)
    job_employer_bin = Str(validate=TWELVE_DIGITS)


class ApplicationIn(Schema):
    person_id = Integer(required=True, validate=ID)
    family_size = Integer(required=True, validate=Range(1, 30))
    settlement_kato = Str(required=True, validate=KATO)
    year = Integer(validate=YEAR)
    support = Nested(SupportIn)


class SupportItemOut(Schema):
    item = Str()
    amount_mrp = Float(allow_none=True)
    mrp_year = Integer(allow_none=True)
    amount_kzt = Float()
    paid_on = Date()
    details = Dict()


class BreachOut(Schema):
    detected_on = Date()
    evidence = Dict(allow_none=True)
    decision = Str(allow_none=True)
    reason = Str(allow_none=True)
    decided_by = Str(allow_none=True)


class ObligationOut(Schema):
    person_id = Integer()
    region_kato = Str()
    settlement_kato = Str()
    family_size = Integer()
    starts_on = Date()
    ends_on = Date()
    status = Str()
    support = List(Nested(SupportItemOut))
    support_total_kzt = Float()
    amount_due_kzt = Float(allow_none=True)
    if_left_today_kzt = Float(allow_none=True)
    breach = Nested(BreachOut, allow_none=True)


class DecisionIn(Schema):
    decision = Str(required=True, validate=OneOf(["confirm", "dismiss"]))
    reason = Str(required=True, validate=TEXT)


class ZoneQuery(Schema):
    level = Str(load_default="settlement", validate=OneOf(["region", "district", "settlement"]))
    region_kato = Str(validate=KATO)
    year = Integer(validate=YEAR)
    limit = Integer(load_default=500, validate=Range(1, 10000))


class ZoneOut(Schema):
    rank = Integer()
    kato = Str()
    name = Str()
    score = Float()
    zone = Str()
    caps = List(Str())
    components = Dict()
    region_kato = Str(allow_none=True)


class ZonePage(Schema):
    level = Str()
    year = Integer()
    weights = Dict()
    items = List(Nested(ZoneOut))


class MapJobIn(Schema):
    year = Integer(validate=YEAR)


class JobStartedOut(Schema):
    job_id = Str()
    status_url = Str()


class IndicatorQuery(Schema):
    year = Integer(validate=YEAR)
    region_kato = Str(validate=KATO)


class IndicatorOut(Schema):
    name = Str()
    value = Float(allow_none=True)
    numerator = Integer()
    denominator = Integer()
    target = Float(allow_none=True)
    definition = Str()


class IndicatorPage(Schema):
    year = Integer()
    region_kato = Str(allow_none=True)
    items = List(Nested(IndicatorOut))
