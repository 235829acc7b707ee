"""Schemas of webhook subscriptions, the events they carry, and the outbox admin view."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from marshmallow.fields import Boolean, Date, DateTime, Dict, Integer, List, Nested, String
from marshmallow.validate import URL, Length, OneOf, Range

from backend.models.registries import (
    ALERT_KINDS,
    CONTACT_RELATIONS,
    LANGUAGES,
    OUTBOX_STATUSES,
    WEBHOOK_EVENTS,
)
from backend.schemas.common import ID, Str


class ContactIn(Schema):
    relation = Str(required=True, validate=OneOf(CONTACT_RELATIONS))
    email = Str(validate=Length(max=254))
    phone = Str(validate=Length(max=16))
    language = Str(load_default="ru", validate=OneOf(LANGUAGES))
    purpose = Str(required=True, validate=Length(3, 500))
    consent = Boolean(required=True)
    arrived_on = Date(
        metadata={
            "description": "a foreigner's arrival the contact is given for: reminded the "
            "working day before the registration deadline, once, unless registered"
        }
    )


class PushKeys(Schema):
    p256dh = Str(required=True, validate=Length(80, 120))
    auth = Str(required=True, validate=Length(16, 60))


class PushSubscriptionIn(Schema):
    """A browser's ``PushSubscription.toJSON()``."""

    endpoint = Str(required=True, validate=Length(max=2000))
    keys = Nested(PushKeys, required=True)
    expirationTime = Integer(allow_none=True)  # the browser's own name


class PushSubscriptionDelete(Schema):
    endpoint = Str(required=True, validate=Length(max=2000))


class PushSubscriptionOut(Schema):
    id = Integer()
    endpoint = String()
    created_at = DateTime()


class PushKeyOut(Schema):
    public_key = String(metadata={"description": "the VAPID public key (applicationServerKey)"})


class ContactOut(Schema):
    id = Integer()
    person_id = Integer()
    relation = String()
    email = String(allow_none=True)
    phone = String(allow_none=True)
    language = String()
    purpose = String()
    consent_at = DateTime()
    retain_until = Date()
    arrived_on = Date(allow_none=True)


class ContactList(Schema):
    items = List(Nested(ContactOut))


class WebhookIn(Schema):
    url = Str(
        required=True,
        validate=[Length(max=2000), URL(schemes={"http", "https"}, require_tld=False)],
    )
    events = List(Str(validate=OneOf(WEBHOOK_EVENTS)), required=True, validate=Length(1, 20))


class WebhookOut(Schema):
    id = String()
    url = String()
    events = List(String())
    created_by = String()
    created_at = DateTime()


class WebhookCreated(WebhookOut):
    secret = String(
        metadata={"description": "Standard Webhooks signing secret (whsec_…); shown only here"}
    )


class WebhookList(Schema):
    items = List(Dict())


class OutboxQuery(Schema):
    status = Str(validate=OneOf(OUTBOX_STATUSES))
    limit = Integer(load_default=50, validate=Range(1, 500))
    after = Integer(validate=ID)


class OutboxMessageOut(Schema):
    id = Integer()
    message_id = String()
    channel = String()
    event_type = String()
    status = String()
    attempts = Integer()
    next_attempt_at = DateTime()
    last_error = String(allow_none=True)
    created_at = DateTime()
    delivered_at = DateTime(allow_none=True)


class OutboxPage(Schema):
    counts = Dict(keys=String(), values=Integer())
    items = List(Dict())


# The ``data`` of each webhook event (documented in the OpenAPI document, x-webhooks).
class PersonRegisteredData(Schema):
    person_id = Integer()
    category = String()


class RegistrationRecordedData(Schema):
    registration_id = Integer()
    person_id = Integer()
    kind = String()
    region_kato = String()
    valid_from = Date()
    valid_to = Date(allow_none=True)


class PermitData(Schema):
    permit_id = Integer()
    person_id = Integer()
    employer_bin = String(allow_none=True)
    region_kato = String()
    status = String(metadata={"description": "active, expired, terminated or revoked"})
    valid_from = Date()
    valid_to = Date()


class AlertData(Schema):
    alert_id = Integer()
    person_id = Integer()
    kind = String(validate=OneOf(ALERT_KINDS))
    region_kato = String(allow_none=True)
    status = String()


class ObligationData(Schema):
    obligation_id = Integer()
    person_id = Integer()
    status = String()
    detected_on = Date(allow_none=True)


class ClaimData(Schema):
    obligation_id = Integer()
    person_id = Integer()
    status = String()
    amount_due_kzt = String(metadata={"description": "the claim's total in tenge, a decimal"})
    issued_at = DateTime(allow_none=True)


class MergeData(Schema):
    merge_id = Integer()
    survivor_id = Integer(metadata={"description": "the person that remains"})
    merged_id = Integer(metadata={"description": "the id that now answers with the survivor"})


EVENT_DATA: dict[str, type[Schema]] = {
    "person.registered": PersonRegisteredData,
    "registration.recorded": RegistrationRecordedData,
    "permit.issued": PermitData,
    "permit.terminated": PermitData,
    "permit.expired": PermitData,
    "alert.opened": AlertData,
    "alert.closed": AlertData,
    "obligation.suspected": ObligationData,
    "claim.issued": ClaimData,
    "duplicate.merged": MergeData,
}


def _json_schema(schema: type[Schema]) -> dict[str, Any]:
    kinds: dict[type, Any] = {
        Integer: "integer",
        Date: ("string", "date"),
        DateTime: ("string", "date-time"),
    }
    props: dict[str, Any] = {}
    for name, field in schema().fields.items():
        found = kinds.get(type(field), "string")
        prop: dict[str, Any] = (
            {"type": found[0], "format": found[1]} if isinstance(found, tuple) else {"type": found}
        )
        if field.allow_none:
            prop["nullable"] = True
        if field.metadata.get("description"):
            prop["description"] = field.metadata["description"]
        props[name] = prop
    return {"type": "object", "properties": props}


def webhook_docs() -> dict[str, Any]:
    """Each event's request as OpenAPI 3.1 ``webhooks`` would describe it (this document
    is 3.0.3 for the bundled Swagger UI, hence the ``x-webhooks`` extension)."""
    docs: dict[str, Any] = {}
    for event in WEBHOOK_EVENTS:
        data = EVENT_DATA.get(event)
        docs[event] = {
            "post": {
                "summary": f"{event}, signed per Standard Webhooks",
                "parameters": [
                    {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
                    for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "type": {"type": "string", "enum": [event]},
                                    "timestamp": {"type": "string", "format": "date-time"},
                                    "data": _json_schema(data) if data else {"type": "object"},
                                },
                            }
                        }
                    }
                },
                "responses": {"2XX": {"description": "received; anything else is retried"}},
            }
        }
    return docs
