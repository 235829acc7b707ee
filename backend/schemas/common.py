"""Shared field types and validators of the request and response schemas."""

from __future__ import annotations

from datetime import date
from typing import Any

import pycountry
from marshmallow import ValidationError
from marshmallow.fields import Field, String
from marshmallow.validate import Length, Range, Regexp

from gis.convert import latlon


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


class GeoPoint(Field[Any]):
    """A stored PostGIS point, shown as ``{"lat", "lon"}`` (read-only)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return latlon(value)


# Largest id PostgreSQL's bigint holds; larger ones are invalid, never a 500.
ID = Range(min=1, max=2**63 - 1)
# Days a period of the register can name: far from ``date.min``/``date.max``, so that
# date arithmetic (a default 30 days before) never overflows.
PERIOD_DAY = Range(
    min=date(1900, 1, 1), max=date(2200, 12, 31), error="must be between 1900 and 2200"
)
KATO = Regexp(r"^[0-9]{9}$", error="must be a 9-digit KATO code")
TWELVE_DIGITS = Regexp(r"^[0-9]{12}$", error="must be exactly 12 digits")
NAME = Length(min=1, max=100)
TEXT = Length(min=1, max=500)


def _country_codes() -> frozenset[str]:
    # ISO 3166-1 alpha-3, plus the ICAO 9303 codes used in travel documents of stateless
    # persons (XXA) and refugees (XXB, XXC), and an unspecified nationality (XXX).
    return frozenset(c.alpha_3 for c in pycountry.countries) | {"XXA", "XXB", "XXC", "XXX"}


COUNTRY_CODES = _country_codes()


def iso_alpha3(value: str) -> None:
    if value not in COUNTRY_CODES:
        raise ValidationError("must be an ISO 3166-1 alpha-3 country code (or XXA/XXB/XXC/XXX)")
