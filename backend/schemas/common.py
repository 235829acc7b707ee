"""Shared field types and validators of the request and response schemas."""

from __future__ import annotations

from marshmallow import ValidationError
from marshmallow.fields import String
from marshmallow.validate import Length, Range, Regexp


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
