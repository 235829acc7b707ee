"""Schemas of device enrolment, tokens and refused phone input."""

from __future__ import annotations

from apiflask import Schema
from marshmallow.fields import Boolean, DateTime, Integer, List, Nested
from marshmallow.validate import OneOf, Range

from backend.models.registries import ROLES
from backend.schemas.common import ID, Str

__all__ = [
    "DeviceEnrolIn",
    "DeviceEnrolOut",
    "RefusalOut",
    "RefusalPage",
    "RefusalQuery",
    "TokenOut",
    "TokenPage",
    "TokenQuery",
]


class DeviceEnrolIn(Schema):
    person_id = Integer(required=True, strict=True, validate=ID)
    expires_days = Integer(
        strict=True,
        validate=Range(1, 3650),
        metadata={"description": "days the token stays valid (default: the setting)"},
    )
    encrypt = Boolean(
        load_default=False,
        metadata={"description": "give the phone an OwnTracks payload encryption key"},
    )


class DeviceEnrolOut(Schema):
    token_id = Integer()
    token = Str(metadata={"description": "shown once; only its hash is stored"})
    person_id = Integer()
    expires_at = DateTime(allow_none=True)
    traccar_client_uri = Str(attribute="traccar_uri")
    owntracks_uri = Str()
    osmand_template = Str()
    gpslogger_url = Str(
        metadata={"description": "GPSLogger's Custom URL, written with its placeholders"}
    )
    owntracks_encrypted = Boolean(attribute="encrypted")


class TokenQuery(Schema):
    role = Str(validate=OneOf(ROLES))


class TokenOut(Schema):
    """Shaped from a ``TokenState``: the token row, its state and refusals."""

    id = Integer(attribute="token.id")
    role = Str(attribute="token.role")
    label = Str(attribute="token.label", allow_none=True)
    state = Str(metadata={"description": "active, expired or revoked"})
    employer_bin = Str(attribute="token.employer_bin", allow_none=True)
    person_id = Integer(attribute="token.person_id", allow_none=True)
    region_kato = Str(attribute="token.region_kato", allow_none=True)
    created_at = DateTime(attribute="token.created_at")
    expires_at = DateTime(attribute="token.expires_at", allow_none=True)
    revoked_at = DateTime(attribute="token.revoked_at", allow_none=True)
    last_seen_at = DateTime(attribute="token.last_seen_at", allow_none=True)
    refusals = Integer(metadata={"description": "points this device sent that were refused"})


class TokenPage(Schema):
    items = List(Nested(TokenOut))


class RefusalQuery(Schema):
    limit = Integer(load_default=100, validate=Range(1, 500))


class RefusalOut(Schema):
    id = Integer()
    client = Str()
    received_at = DateTime()
    reason = Str()
    raw = Str(allow_none=True, metadata={"description": "what was sent, token cut out"})


class RefusalPage(Schema):
    token_id = Integer()
    count = Integer()
    items = List(Nested(RefusalOut))
