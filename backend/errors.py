"""The one error hierarchy of Qonys. Each error knows its HTTP status.

Services raise these without importing Flask; the app turns them into
``application/problem+json`` responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# Request locations that are not worth naming in a field path.
_LOCATIONS = {"json", "query", "form", "headers", "files", "path", "json_or_form"}


@dataclass
class FieldError:
    field: str
    message: str


# Every kind of problem the API answers (RFC 9457): its machine code (the ``type`` URI's
# fragment and the ``code`` member), HTTP status, human title and what to do about it.
# Documented at /api/problems, each under its code.
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "bad_request": (
        400,
        "Bad request",
        "The body is not valid JSON or not what the endpoint reads.",
    ),
    "unauthorized": (401, "Not signed in", "Send a bearer token, or sign in with a browser."),
    "forbidden": (
        403,
        "Not allowed",
        "Your role or region may not do this, or a purpose (X-Purpose) is missing.",
    ),
    "not_found": (
        404,
        "Not found",
        "No such resource, or not yours: the two are never told apart.",
    ),
    "method_not_allowed": (
        405,
        "Method not allowed",
        "This resource does not take that HTTP method.",
    ),
    "conflict": (409, "Conflict", "The request contradicts the register's current state."),
    "too_large": (
        413,
        "Request too large",
        "The body is over the size limit; send less at a time.",
    ),
    "invalid": (
        422,
        "Invalid value",
        "A field's value is well-formed but not acceptable; `errors` names the field.",
    ),
    "precondition_required": (
        428,
        "Precondition required",
        "The write needs a header it did not carry.",
    ),
    "rate_limited": (429, "Too many requests", "Wait the seconds in Retry-After, then retry."),
    "internal": (500, "Internal error", "A fault on our side, logged with the request id."),
    "unavailable": (
        503,
        "Service unavailable",
        "A service Qonys depends on is down; retry after Retry-After.",
    ),
    "busy": (
        503,
        "The database was held up",
        "Other work was in the way (another request writing the same data, a deadlock "
        "lost, a row lock held too long) or a statement ran past its time: the request "
        "did not complete; send it again after Retry-After.",
    ),
    "day_closing": (
        503,
        "The points' day is being closed",
        "Its partition is being compacted (two days on, nightly); send the points again, "
        "or ask for the track again, after Retry-After. Other days go on meanwhile.",
    ),
    "too_many_points": (
        413,
        "Too many points",
        "A batch holds at most the configured number of points; split it.",
    ),
    "ambiguous_document": (
        409,
        "Document number held by several persons",
        "Check by IIN, or give the issuing country (document_country).",
    ),
    "region_not_designated": (
        409,
        "Region not designated for settlement",
        "Interregional resettlement goes only to designated regions (docs/domain.md rule 1).",
    ),
    "infrastructure_missing": (
        409,
        "Settlement lacks the required infrastructure",
        "Infrastructure first (rule 5): school, kindergarten, clinic, housing, utilities, "
        "transport.",
    ),
    "settlement_not_listed": (
        409,
        "Settlement not on the year's list",
        "Only listed settlements are places of arrival (rule 4).",
    ),
    "quota_not_set": (409, "No quota set", "The region has no quota for the year (rule 3)."),
    "quota_exhausted": (
        409,
        "Quota exhausted",
        "The category's quota has no room for the whole family (rule 3).",
    ),
    "obligation_active": (
        409,
        "An obligation is running",
        "One family, one running obligation (rule 6).",
    ),
    "general_terms": (
        409,
        "Residence on general terms",
        "The family chose permanent residence without quota or support (rule 6).",
    ),
    # Issue 24: the law of the right year and seed 004's intra-regional resettlement.
    "policy_value_missing": (
        409,
        "Policy value missing for the day",
        "The computation needs a parameter with no value in force on its day; an "
        "administrator sets it with its source (`qonys policy set`).",
    ),
    "rule_not_in_force": (
        409,
        "Rule not in force on that day",
        "The rule applies from a later day (seed 003: from 2026).",
    ),
    "not_intra_regional": (
        409,
        "Not an intra-regional resettlement",
        "Seed 004 p. 2(7): from a low-potential village to a town of the same region, with "
        "housing and a job recorded; a move within one settlement is none.",
    ),
}
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


class QonysError(Exception):
    status = 400
    code = "bad_request"
    headers: dict[str, str] = {}

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class Invalid(QonysError):
    """A value is well-formed but not acceptable (422), naming the field."""

    status = 422
    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [FieldError(field, message)])
        self.field = field


class NotFound(QonysError):
    """Not found, or not yours: the two are never told apart."""

    status = 404
    code = "not_found"


class OutOfScope(NotFound):
    """A person outside the caller's region scope: answered exactly as not found (so ids
    cannot be walked for who is registered where), but audited as a refusal."""

    def __init__(self, detail: str, person_id: int) -> None:
        super().__init__(detail)
        self.person_id = person_id


class Conflict(QonysError):
    status = 409
    code = "conflict"


class Forbidden(QonysError):
    status = 403
    code = "forbidden"


class Unauthorized(QonysError):
    status = 401
    code = "unauthorized"


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
    code = "unavailable"


class TooMany(QonysError):
    """Over a cap; ``Retry-After`` says when the caller may go on."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


class DayClosing(QonysError):
    """Points for a day whose partition the maintenance job is compacting (CLUSTER, the
    spatial index): told to come back, so that no thread waits out the compaction
    (``trace_storage.closed_day_writes``)."""

    status = 503
    code = "day_closing"
    headers = {"Retry-After": "60"}  # a day's compaction: seconds to minutes

    def __init__(self, days: list[date], reading: bool = False) -> None:
        named = ", ".join(d.isoformat() for d in days)
        again = "ask again" if reading else "send them again"
        super().__init__(
            f"the points of {named} are being reorganised (the day is being closed); "
            f"{again} after the seconds in Retry-After"
        )
        self.days = days
