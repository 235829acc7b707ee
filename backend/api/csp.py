"""Content-Security-Policy: scripts only from this site, or inline by nonce or hash."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from urllib.parse import urlsplit

from flask import Response

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP hashes of a page's inline scripts (pages we store or a library renders)."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def content_policy(script_sources: list[str], image_sources: tuple[str, ...] = ()) -> str:
    """The policy in force on every page; only ``script-src`` varies (nonce, hashes), and
    a map's ``img-src`` names the internal tile server when one is set."""
    scripts = " ".join(["'self'", *dict.fromkeys(script_sources)])
    images = " ".join(["'self'", "data:", *image_sources])
    return (
        "default-src 'self'; "
        f"script-src {scripts}; "
        "style-src 'self' 'unsafe-inline'; "
        f"img-src {images}; "
        "connect-src 'self'; "
        "font-src 'self'; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "frame-ancestors 'none'; "
        "form-action 'self'"
    )


def tile_origin(tiles_url: str | None) -> tuple[str, ...]:
    """The origin of an internal base map's tile URL (``QONYS_MAP_TILES_URL``), which a
    map page may load images from; none when the maps have no base map."""
    if not tiles_url:
        return ()
    parts = urlsplit(tiles_url.replace("{s}", "a"))
    return (f"{parts.scheme}://{parts.netloc}",) if parts.scheme and parts.netloc else ()


def map_response(html: bytes, compress: bool, tiles_url: str | None = None) -> Response:
    """A stored map page: gzipped when the browser takes it, its inline scripts (built
    offline by Folium) allowed by their hashes, its base map's tiles by their origin."""
    if compress:
        resp = Response(gzip.compress(html, 6), mimetype="text/html")
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Vary"] = "Accept-Encoding"
    else:
        resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = content_policy(
        inline_script_hashes(html), tile_origin(tiles_url)
    )
    return resp
