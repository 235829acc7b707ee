"""The one place where malformed input stops: never a 500 from what a client sent.

Every JSON body is read by one bounded parser (integers beyond the interpreter's digit
limit and the non-JSON constants ``NaN``/``Infinity`` are a 400 naming the body; the
batch API reads the constants as numbers, as the phone formats do), every
path and query parameter is refused with 422 naming it when it carries a NUL byte (which
PostgreSQL cannot store), and a value that still slips through to the database and
overflows a column is answered 422, not 500. The phone protocols keep their own rule: a
known phone is always answered 2xx and what it sent is recorded as a refusal
(backend/api/traces.py), so they are left out of the NUL check here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
from apiflask import APIFlask
from apiflask.schema_adapters.marshmallow import parser
from flask import Request, Response, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import exc as sqlalchemy_exc
from webargs import core
from webargs.flaskparser import is_json_request

from backend.api.problems import problem
from backend.errors import FieldError, Invalid, QonysError
from backend.services.tracking import phone_apps

log = logging.getLogger("qonys.api")

# The batch API takes what the phone formats take (issue 27): ``NaN`` and ``Infinity``,
# which some JSON writers produce, are read as numbers; a point's optional one is then
# dropped and flagged, a time or place that is one refuses that point only.
_TAKES_NONFINITE = frozenset({"/api/v1/traces"})
# Phones are answered 2xx whatever they send; their endpoints record refusals themselves.
# Every app of the registry (GPSLogger was left out: a NUL in its query was a 422).
_PHONE_PATHS = tuple(app.path for app in phone_apps.APPS)


class MalformedBody(QonysError):
    """A body that is not JSON as RFC 8259 has it (400, naming the body)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"malformed request: {message}", [FieldError("body", message)])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# 19 digits in a row: an integer that may lie beyond 64 bits, which orjson would read
# as a rounded float without a word (18446744073709551616 as 1.8446744073709552e19).
# Found by turning every digit into 0 and looking for 19 zeros: ten times faster than
# the regular expression [0-9]{19} (0.1 ms against 1 ms on a batch of 1,000 points).
_LONG_RUN = "0" * 19
_LONG_RUN_BYTES = _LONG_RUN.encode()
_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")
_DIGITS_AS_ZERO_BYTES = bytes.maketrans(b"123456789", b"000000000")


def has_long_run(data: str | bytes) -> bool:
    """Whether ``data`` holds 19 digits in a row: :func:`loads` then reads it with the
    stdlib, whose answer stands (see there)."""
    if isinstance(data, str):
        return _LONG_RUN in data.translate(_DIGITS_AS_ZERO)
    return _LONG_RUN_BYTES in data.translate(_DIGITS_AS_ZERO_BYTES)


def loads(data: str | bytes, nonfinite: bool = False) -> Any:
    """JSON as RFC 8259 has it: no ``NaN``/``Infinity`` (unless ``nonfinite``: read as
    the floats they name); integers the interpreter can read (beyond 4,300 digits it
    raises ValueError, which callers turn into a 400).

    orjson reads almost every body, five times faster than the stdlib. The stdlib reads
    the rest, and its answer stands: a body with 19 digits in a row (an integer beyond
    64 bits stays exact, and a point's 400-digit number is dropped point by point, not
    the whole batch), and whatever orjson refuses (a number beyond a double, UTF-16, a
    lone surrogate). One difference remains: orjson reads nesting up to 1,024 levels
    where the stdlib's recursion stopped at about 990.
    """
    if not has_long_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    if nonfinite:
        return json.loads(data)
    return json.loads(data, parse_constant=_no_constant)


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with the bounded parser (``request.get_json``)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


@parser.location_loader("json")
def _load_json(req: Request, schema: Any) -> Any:
    """The request schemas' JSON location, read by the bounded parser."""
    if not is_json_request(req):
        return core.missing
    raw = req.get_data(cache=True)
    if not raw.strip():
        return core.missing
    try:
        return loads(raw, nonfinite=req.path in _TAKES_NONFINITE)
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8") from None
    except ValueError as exc:  # JSONDecodeError, NaN, or an integer of 4,300+ digits
        raise MalformedBody(_reason(exc)) from None


def _reason(exc: ValueError) -> str:
    text = str(exc)
    if "digits" in text:
        return "an integer in the body has too many digits"
    if "not a JSON number" in text:
        return text
    return "the body is not valid JSON"


def _refuse_nul() -> None:
    if request.path.startswith(_PHONE_PATHS):
        return
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            raise Invalid(name, "must not contain a NUL character")
    if "\x00" in request.path:
        raise Invalid("path", "must not contain a NUL character")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise Invalid(name.replace("\x00", "\\0"), "must not contain a NUL character")


def install(app: APIFlask) -> None:
    """Wire the bounded parser, the NUL check and the last-resort mapping of data errors."""
    app.json = BoundedJSONProvider(app)
    app.before_request(_refuse_nul)

    @app.errorhandler(sqlalchemy_exc.DataError)
    def _data_error(error: sqlalchemy_exc.DataError) -> Response:
        # A value the schemas let through but the column cannot hold (out of range, bad
        # encoding): the client's input, said as such. Logged: a schema should catch it.
        log.warning("data error reached the database: %s", str(error.orig).splitlines()[0])
        return _invalid("body", "a value is out of range or not representable")

    @app.errorhandler(ValueError)
    def _value_error(error: ValueError) -> Response:
        # psycopg2 refuses NUL bytes in a string parameter before sending the statement.
        if "NUL (0x00)" in str(error):
            return _invalid("body", "must not contain a NUL character")
        log.exception("unhandled error")
        return problem(500, "an internal error occurred; it has been logged")


def _invalid(field: str, message: str) -> Response:
    return problem(422, f"{field}: {message}", errors=[FieldError(field, message)])
