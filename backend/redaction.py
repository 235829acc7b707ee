"""Credentials cut out of any text that is kept: access-log lines and refused requests.

Phones carry their device token in the URL (OsmAnd's ``id``, ``deviceid``), in form and
JSON bodies (Traccar's ``device_id``), and scripts in headers. A client may percent-encode
any character of a parameter name or a token (``?i%64=qny%5F…`` is ``?id=qny_…`` to the
server), so the text is decoded first — as often as it keeps changing — and matched
after; control characters the decoding produced are escaped, so a decoded ``%0A`` cannot
forge a log line.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_SECRET_PARAM = re.compile(
    r"(?i)((?:^|[?&;\s\"'{,])\"?(?:id|i|deviceid|device_id|token|password)\"?\s*[=:]\s*\"?)"
    r"[^&;\s\"]*"
)
_TOKEN = re.compile(r"(?i)qny_[A-Za-z0-9_\-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_DECODINGS = 4


def decoded(value: str) -> str:
    """``value`` percent-decoded until it stops changing, control characters escaped."""
    for _ in range(_MAX_DECODINGS):
        plain = unquote(value, errors="replace")
        if plain == value:
            break
        value = plain
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def redact(value: str) -> str:
    """A text with token-bearing parameters and anything token-shaped cut out."""
    if "%" in value:
        value = decoded(value)
    return _TOKEN.sub("qny_***", _SECRET_PARAM.sub(r"\1***", value))
