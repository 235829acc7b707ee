"""Pages that work without a network: the public /verify page and the officer's PWA.

``/verify`` needs no sign-in: anyone holding a paper reads its QR code and the browser
checks the signature and the status list itself (backend/static/web/credentials.js).
A service worker per page (served under the page's path, scope = the page) keeps the
page, its assets, the keys and the status lists, so both work offline once loaded.
"""

from __future__ import annotations

import gettext
import json
from typing import Any

import pycountry
from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from backend.api.context import database
from backend.api.limits import limiter
from backend.models import Region
from backend.settings import PROJECT_ROOT

bp = Blueprint("web_offline", __name__)
WORKER = PROJECT_ROOT / "backend" / "static" / "web" / "offline-worker.js"
# What each page's worker keeps (besides the page itself, the keys and the lists).
ASSETS = (
    "web/qonys.css",
    "web/offline.css",
    "web/credentials.js",
    "web/qonys-icon.svg",
    "vendor/jsqr/jsQR.js",
)
PAGE_ASSETS = {"verify": ("web/verify.js",), "officer": ("web/officer.js", "web/outbox.js")}


def verify_limit() -> str:
    return str(current_app.extensions["qonys.settings"].verify_rate_limit)


def region_names_json() -> str:
    """KATO → {ru, kk, en} names, embedded in the page for offline use."""
    with database().transaction() as db:
        rows = db.execute(select(Region.kato, Region.name_ru, Region.name_kk, Region.name_en))
        return json.dumps(
            {kato: {"ru": ru, "kk": kk, "en": en} for kato, ru, kk, en in rows},
            ensure_ascii=False,
        )


def verify_client() -> str:
    return "verify:" + (request.remote_addr or "unknown")


@bp.route("/verify")
@limiter.limit(verify_limit, key_func=verify_client)
def verify() -> Any:
    return render_template("web/verify.html", regions_json=region_names_json())


@bp.route("/<any(verify, officer):page>/sw.js")
def worker(page: str) -> Response:
    """The page's service worker; allowed to control ``/<page>`` (not only ``/<page>/``)."""
    cached = [
        url_for(f"web_offline.{page}" if page == "verify" else "web.officer"),
        url_for("credentials.jwks"),
        url_for("credentials.status_list", name="permits"),
        url_for("credentials.status_list", name="registrations"),
        *(url_for("static", filename=a) for a in (*ASSETS, *PAGE_ASSETS[page])),
    ]
    if page == "officer":
        cached.append(url_for("web_offline.manifest"))
    prelude = f"const CACHED = {json.dumps(cached)};\nconst SCOPE = {json.dumps('/' + page)};\n"
    body = prelude + WORKER.read_text("utf-8")
    resp = Response(body, mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = f"/{page}"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.route("/officer/manifest.webmanifest")
def manifest() -> Response:
    """What makes the officer's page installable on a phone's home screen."""
    body = {
        "name": "Qonys — " + _("Check a person"),
        "short_name": "Qonys",
        "start_url": url_for("web.officer"),
        "scope": "/officer",
        "display": "standalone",
        "background_color": "#f6f7f9",
        "theme_color": "#0b3d66",
        "icons": [
            {
                "src": url_for("static", filename="web/qonys-icon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "any",
            }
        ],
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


def country_name(code: str, lang: str) -> str:
    """An ISO alpha-3 citizenship in the reader's language (pycountry's ISO 3166 names)."""
    country = pycountry.countries.get(alpha_3=code)
    if country is None:
        return code
    try:
        names = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
    except OSError:
        return str(country.name)
    return names.gettext(country.name)


@bp.route("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for on pages that name none (the sign-in page)."""
    icon = PROJECT_ROOT / "backend" / "static" / "web" / "qonys-icon.svg"
    resp = Response(icon.read_bytes(), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp
