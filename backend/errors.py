"""The one error hierarchy of Qonys. Each error knows its HTTP status.

Services raise these without importing Flask; the app turns them into
``application/problem+json`` responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Request locations that are not worth naming in a field path.
_LOCATIONS = {"json", "query", "form", "headers", "files", "path", "json_or_form"}


@dataclass
class FieldError:
    field: str
    message: str


class QonysError(Exception):
    status = 400
    title = "Bad request"
    type = "about:blank"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class Invalid(QonysError):
    """A value is well-formed but not acceptable (422), naming the field."""

    status = 422
    title = "Invalid value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [FieldError(field, message)])
        self.field = field


class NotFound(QonysError):
    """Not found, or not yours: the two are never told apart."""

    status = 404
    title = "Not found"


class Conflict(QonysError):
    status = 409
    title = "Conflict"


class Forbidden(QonysError):
    status = 403
    title = "Forbidden"


class Unauthorized(QonysError):
    status = 401
    title = "Unauthorized"


def flatten_messages(detail: Any, prefix: str = "") -> list[FieldError]:
    """Turn marshmallow's nested ``{"json": {"field": ["msg"]}}`` into field errors."""
    out: list[FieldError] = []
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            key = str(key)
            path = (
                prefix if key in _LOCATIONS and not prefix else f"{prefix}.{key}" if prefix else key
            )
            out.extend(flatten_messages(value, path))
    elif isinstance(detail, list | tuple):
        for item in detail:
            out.extend(flatten_messages(item, prefix))
    else:
        out.append(FieldError(prefix or "body", str(detail)))
    return out


class Unavailable(QonysError):
    """A service the request needs (the job queue) is down; the caller may retry."""

    status = 503
    title = "Service unavailable"
