"""Verifiable credentials: what GET …/credential answers."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, DateTime, Float, Integer, List, String
from marshmallow import ValidationError, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

__all__ = ["CredentialOut", "OutboxItemIn", "OutboxItemOut"]


class CredentialOut(Schema):
    format = String(metadata={"description": "jws-ed25519: a compact JWS signed with Ed25519"})
    payload = String(metadata={"description": "exactly the text in the QR code"})
    qr_url = String(metadata={"description": "the QR code (PNG; .svg for SVG)"})
    pdf_url = String(metadata={"description": "an A6 sheet to print, Russian and Kazakh"})
    keys_url = String(metadata={"description": "the issuer's public keys (JWKS)"})
    status_list_url = String()
    status_index = Integer()


class OutboxItemIn(Schema):
    """One check the officer's phone made without a connection."""

    key = String(
        required=True,
        validate=Regexp(r"^[A-Za-z0-9-]{8,40}$"),
        metadata={"description": "the outbox item's own key: a retry is recognised by it"},
    )
    kind = String(required=True, validate=OneOf(("typed", "qr")))
    who = String(
        required=True,
        validate=Length(min=1, max=40),
        metadata={"description": "typed: an IIN or document number; qr: the signed number"},
    )
    doc_kind = String(validate=OneOf(("permit", "registration")))
    device_time = AwareDateTime(required=True)
    lat = Float(required=True, validate=Range(-90, 90), allow_nan=False)
    lon = Float(required=True, validate=Range(-180, 180), allow_nan=False)
    offline_verdict = String(validate=Length(max=32))

    @validates_schema
    def _qr_kind(self, data: dict[str, Any], **_: object) -> None:
        if data.get("kind") == "qr" and not data.get("doc_kind"):
            raise ValidationError("is required for a QR check", "doc_kind")


class OutboxItemOut(Schema):
    key = String()
    check_id = Integer()
    verdict = String()
    reasons = List(String())
    offline_verdict = String(allow_none=True)
    device_time = DateTime()
    server_time = DateTime()
    duplicate = Boolean(metadata={"description": "this key was synced before: its answer"})
