"""Schemas of the register: persons, registrations, employers, permits, checks, jobs."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from marshmallow import ValidationError, validates_schema
from marshmallow.fields import Boolean, Date, DateTime, Dict, Float, Function, Integer, List, Nested
from marshmallow.validate import Length, OneOf, Range

from backend.models.registries import (
    CATEGORIES,
    CHECK_VERDICTS,
    EMPLOYER_KINDS,
    NOTIFIERS,
    REGISTRATION_KINDS,
    SEXES,
)
from backend.schemas.common import ID, KATO, NAME, TEXT, TWELVE_DIGITS, GeoPoint, Str, iso_alpha3


class LocationIn(Schema):
    lat = Float(required=True, validate=Range(-90, 90), allow_nan=False)
    lon = Float(required=True, validate=Range(-180, 180), allow_nan=False)


class DocumentIn(Schema):
    type = Str(required=True, validate=Length(min=1, max=32))
    number = Str(required=True, validate=Length(min=1, max=32))


class DocumentOut(Schema):
    type = Str(attribute="document_type")
    number = Str(attribute="document_number")


MRZ = Str(
    validate=Length(min=60, max=100),
    metadata={
        "description": "a passport's (TD3, 2 lines of 44) or ID card's (TD1, 3 lines of 30) "
        "machine-readable zone, lines separated by a newline; every check digit is verified"
    },
)


class PersonIn(Schema):
    """A person as registered. The names: ``surname``/``given_name`` as entered, and the
    spellings documents carry (Cyrillic as on a Kazakh document, Latin as in a passport);
    either script may be missing, and an ``mrz`` fills what the body leaves out."""

    iin = Str(validate=TWELVE_DIGITS, metadata={"description": "omit for a foreigner"})
    surname = Str(validate=NAME, metadata={"description": "required unless a script's is given"})
    given_name = Str(validate=NAME)
    surname_cyrillic = Str(validate=NAME, allow_none=True)
    given_name_cyrillic = Str(validate=NAME, allow_none=True)
    patronymic_cyrillic = Str(validate=NAME, allow_none=True)
    surname_latin = Str(validate=NAME, allow_none=True)
    given_name_latin = Str(validate=NAME, allow_none=True)
    birth_date = Date(metadata={"description": "required unless an mrz gives it"})
    sex = Str(validate=OneOf(SEXES))
    citizenship = Str(validate=iso_alpha3)
    category = Str(required=True, validate=OneOf(CATEGORIES))
    document = Nested(DocumentIn)
    mrz = MRZ


class MatchIn(PersonIn):
    """A person to look for: the fields of creation, none required but a birth date."""

    category = Str(validate=OneOf(CATEGORIES))


class MatchItemOut(Schema):
    person_id = Integer()
    score = Float(metadata={"description": "0 to 1"})
    reasons = List(Str(), metadata={"description": "what agreed"})


class MatchOut(Schema):
    items = List(Nested(MatchItemOut))


class MrzIn(Schema):
    mrz = Str(required=True, validate=Length(min=60, max=100))


class MrzOut(Schema):
    format = Str(metadata={"enum": ["TD3", "TD1"]})
    document = Nested(DocumentIn)
    issuing_country = Str()
    citizenship = Str()
    surname_latin = Str()
    given_name_latin = Str()
    birth_date = Date()
    sex = Str(allow_none=True)
    expiry_date = Str(metadata={"description": "YYMMDD as in the zone"})
    iin = Str(allow_none=True)


class PersonQuery(Schema):
    iin = Str(validate=TWELVE_DIGITS)
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = Str(validate=Length(max=100))


class RegistrationIn(Schema):
    person_id = Integer(required=True, validate=ID)
    kind = Str(required=True, validate=OneOf(REGISTRATION_KINDS))
    address = Str(validate=TEXT, allow_none=True)
    location = Nested(LocationIn, allow_none=True)
    settlement_kato = Str(validate=KATO, allow_none=True)
    valid_from = Date(required=True)
    valid_to = Date(allow_none=True, metadata={"description": "empty for open-ended"})
    arrived_on = Date(
        allow_none=True,
        metadata={"description": "a foreigner's arrival: the deadline to register runs from it"},
    )
    notified_by = Str(
        validate=OneOf(NOTIFIERS),
        allow_none=True,
        metadata={"description": "host (default) or self (online, visa-free immigrants)"},
    )
    notified_on = Date(
        allow_none=True, metadata={"description": "day the registration was notified (today)"}
    )

    @validates_schema
    def _place(self, data: dict[str, Any], **_: object) -> None:
        if data.get("location") is None and data.get("settlement_kato") is None:
            raise ValidationError("give location and/or settlement_kato", "location")
        if data.get("valid_to") and data["valid_to"] < data["valid_from"]:
            raise ValidationError("must not be before valid_from", "valid_to")
        for name in ("notified_by", "notified_on"):
            if data.get(name) is not None and data.get("arrived_on") is None:
                raise ValidationError("needs arrived_on", name)


class RegistrationOut(Schema):
    id = Integer()
    person_id = Integer()
    kind = Str()
    address = Str(allow_none=True)
    region_kato = Str()
    settlement_kato = Str(allow_none=True)
    location = GeoPoint(attribute="geom", metadata={"type": "object"})
    valid_from = Date()
    valid_to = Date(allow_none=True)
    ended_on = Date(allow_none=True)
    arrived_on = Date(allow_none=True)
    notified_by = Str(allow_none=True)
    late_registration = Boolean(
        metadata={"description": "notified after the deadline in force on arrival (rule 8)"}
    )


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
    surname_cyrillic = Str(allow_none=True)
    given_name_cyrillic = Str(allow_none=True)
    patronymic_cyrillic = Str(allow_none=True)
    surname_latin = Str(allow_none=True)
    given_name_latin = Str(allow_none=True)
    document = Nested(DocumentOut, allow_none=True)
    is_demo = Boolean()
    registrations = List(Nested(PersonRegistrationOut), attribute="current_registrations")
    permits = List(Nested(PersonPermitOut))
    merged_into = Integer(
        allow_none=True,
        metadata={"description": "set when the id asked for was merged into this person"},
    )
    requested_id = Integer(allow_none=True, attribute="answered_for")
    duplicate_candidates = List(
        Nested(MatchItemOut),
        metadata={"description": "on creation: likely duplicates, each opening a review item"},
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        # The document is the person's own two columns, or nothing.
        if attr == "document":
            return obj if obj.document_number else None
        if attr == "merged_into":
            return obj.id if obj.answered_for else None
        return super().get_attribute(obj, attr, default)


class PersonPage(Schema):
    items = List(Nested(PersonOut))
    next_cursor = Str(allow_none=True)


class EmployerIn(Schema):
    bin = Str(validate=TWELVE_DIGITS, metadata={"description": "a firm's BIN"})
    iin = Str(
        validate=TWELVE_DIGITS,
        metadata={"description": "a household employer: the private person's IIN"},
    )
    name = Str(required=True, validate=Length(min=1, max=300))

    @validates_schema
    def _one_number(self, data: dict[str, Any], **_: object) -> None:
        if bool(data.get("bin")) == bool(data.get("iin")):
            raise ValidationError("give exactly one of bin (a firm) or iin (a household)", "bin")


class EmployerOut(Schema):
    bin = Str(metadata={"description": "the BIN, or a household employer's IIN"})
    kind = Str(metadata={"enum": list(EMPLOYER_KINDS)})
    name = Str()


class PermitIn(Schema):
    person_id = Integer(required=True, validate=ID)
    employer_bin = Str(validate=TWELVE_DIGITS, allow_none=True)
    region_kato = Str(required=True, validate=KATO)
    valid_from = Date(required=True)
    valid_to = Date(required=True)


class PermitExtensionIn(Schema):
    valid_to = Date(required=True)


class HouseholdEmployerIn(Schema):
    iin = Str(
        required=True,
        validate=TWELVE_DIGITS,
        metadata={"description": "the registered household employer's IIN"},
    )


class PermitRevocationIn(Schema):
    reason = Str(required=True, validate=TEXT)


class HolderOut(Schema):
    person_id = Integer(attribute="id")
    surname = Str()
    given_name = Str()
    iin = Str()


class EmployerPermitOut(PermitOut):
    holder = Nested(HolderOut)  # Permit.holder, loaded with the page


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
    status = Str(attribute="permit.status", metadata={"description": "the permit's new status"})


class CheckIn(Schema):
    iin = Str(validate=TWELVE_DIGITS, metadata={"description": "a wrong check digit is a 422"})
    document_number = Str(validate=Length(min=1, max=32))
    document_country = Str(
        validate=iso_alpha3,
        metadata={
            "description": "the document's issuing country (ISO alpha-3), when a "
            "number is held by more than one person"
        },
    )
    location = Nested(LocationIn, required=True)

    @validates_schema
    def _who(self, data: dict[str, Any], **_: object) -> None:
        if bool(data.get("iin")) == bool(data.get("document_number")):
            raise ValidationError("give exactly one of iin or document_number", "iin")
        if data.get("document_country") and not data.get("document_number"):
            raise ValidationError("goes with document_number", "document_country")


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
    verdict = Str(metadata={"enum": list(CHECK_VERDICTS)})
    reasons = List(Str())
    warnings = List(
        Str(),
        metadata={"description": "late_registration: notified after its deadline (rule 8)"},
    )
    region_kato = Str(allow_none=True)
    person = Nested(CheckPersonOut, allow_none=True)
    registration = Nested(CheckRegistrationOut, allow_none=True)
    permit = Nested(CheckPermitOut, allow_none=True)
    outside_scope = Boolean(
        metadata={
            "description": "The register places the person outside the officer's region: "
            "the details are withheld"
        }
    )
    searched = Str(
        metadata={
            "description": "the IIN or document number as the register compared it "
            "(case, spaces, hyphens and Cyrillic look-alike letters folded): on not_found, "
            "what to check against the document"
        }
    )


class NearQuery(Schema):
    lat = Float(required=True, validate=Range(-90, 90), allow_nan=False)
    lon = Float(required=True, validate=Range(-180, 180), allow_nan=False)
    radius_m = Integer(load_default=500, validate=Range(min=1))
    limit = Integer(load_default=50, validate=Range(1, 500))


class NearItemOut(Schema):
    registration_id = Integer(attribute="id")
    person_id = Integer()
    surname = Str()
    given_name = Str()
    kind = Str()
    address = Str(allow_none=True)
    distance_m = Float()
    location = Function(lambda r: {"lat": r.lat, "lon": r.lon}, metadata={"type": "object"})


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
