"""Content-Security-Policy: scripts only from this site, or inline by nonce or hash."""

from __future__ import annotations

import base64
import hashlib
import re

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP hashes of a page's inline scripts (pages we store or a library renders)."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def content_policy(script_sources: list[str]) -> str:
    """The policy in force on every page; only ``script-src`` varies (nonce, hashes)."""
    scripts = " ".join(["'self'", *dict.fromkeys(script_sources)])
    return (
        "default-src 'self'; "
        f"script-src {scripts}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "font-src 'self'; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "frame-ancestors 'none'; "
        "form-action 'self'"
    )
