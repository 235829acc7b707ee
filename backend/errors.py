"""The one error hierarchy of Qonys. Each error knows its HTTP status.

Services raise these without importing Flask; the app turns them into
``application/problem+json`` responses.
"""

from __future__ import annotations

from dataclasses import dataclass


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
