"""The services' refusals as words beside the field, in the reader's language.

Services speak English to API clients (problem+json ``errors``). A page shows the same
refusal from the Babel catalogues: each known message is matched here once, with its
values carried over; anything else falls back to a plain sentence for its status, so a
page never shows an English detail string.
"""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from backend.errors import QonysError

# (field, pattern of the service's English message, the words; named groups fill them).
_KNOWN = (
    ("last_working_day", r"cannot be in the future", _l("Cannot be in the future.")),
    (
        "last_working_day",
        r"is before the permit started \((?P<day>[\d-]+)\)",
        _l("Is before the permit started (%(day)s)."),
    ),
    (
        "last_working_day",
        r"is after the permit ended \((?P<day>[\d-]+)\)",
        _l("Is after the permit ended (%(day)s)."),
    ),
    ("permit_id", r"permit \S+ not found", _l("Choose one of your permit holders.")),
    ("permit_id", r"permit \S+ is already \w+", _l("This permit is no longer in force.")),
)
_BY_STATUS = {
    404: _l("Not found in the register."),
    409: _l("This contradicts what the register holds."),
    422: _l("This value is not accepted."),
}


def field_errors(exc: QonysError, default_field: str) -> dict[str, str]:
    """``{field: message}`` for a form: each service error under its field (or under
    ``default_field`` when the service names none), in the page's language."""
    found = [(e.field, e.message) for e in exc.errors] or [(default_field, exc.detail)]
    out: dict[str, str] = {}
    for field, message in found:
        words = None
        for known_field, pattern, text in _KNOWN:
            hit = re.search(pattern, message) if known_field in (field, default_field) else None
            if hit:
                words = str(text) % hit.groupdict() if hit.groupdict() else str(text)
                field = known_field
                break
        out[field] = words or str(_BY_STATUS.get(exc.status, _BY_STATUS[422]))
    return out
