"""Content-Security-Policy: scripts only from this site, or inline by nonce or hash."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re

from flask import Response

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


def map_response(html: bytes, compress: bool) -> Response:
    """A stored map page: gzipped when the browser takes it, its inline scripts (built
    offline by Folium) allowed by their hashes."""
    if compress:
        resp = Response(gzip.compress(html, 6), mimetype="text/html")
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Vary"] = "Accept-Encoding"
    else:
        resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = content_policy(inline_script_hashes(html))
    return resp
