"""Wiring the pages into the app: languages, sessions, CSP with nonces, no-store."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from backend import clock
from backend.api.context import session_principal
from backend.api.csp import content_policy, inline_script_hashes
from backend.api.problems import problem
from backend.errors import FieldError
from backend.settings import PROJECT_ROOT, Settings
from backend.web import admin, auth, cards, dashboard, notifications, offline, pages, words
from backend.web import session as web_session

TRANSLATIONS = PROJECT_ROOT / "backend" / "translations"


def select_locale() -> str:
    """``?lang=`` (remembered in the session), else the remembered one, else Russian."""
    chosen = request.args.get("lang")
    codes = [code for code, _name in words.LANGUAGES]
    if chosen in codes:
        session["lang"] = chosen
        return chosen
    remembered = session.get("lang")
    return remembered if remembered in codes else "ru"


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def install(app: Flask, settings: Settings) -> None:
    web_session.install(app, settings)
    Babel(
        app,
        locale_selector=select_locale,
        default_locale="ru",
        default_translation_directories=str(TRANSLATIONS),
    )
    # Moments are shown as Kazakhstan's local date, the same "today" the rules use.
    app.jinja_env.filters["local_date"] = lambda moment: clock.today(moment) if moment else ""
    app.jinja_env.filters["since"] = words.since
    app.jinja_env.filters["local_day"] = words.day
    app.jinja_env.filters["local_datetime"] = words.moment
    app.jinja_env.filters["country"] = words.country
    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(cards.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(offline.bp)
    app.register_blueprint(notifications.bp)

    @app.errorhandler(CSRFError)
    def _csrf_refused(error: CSRFError) -> Response:
        return problem(
            400,
            "the form's CSRF token is missing or does not match this session",
            errors=[FieldError("csrf_token", error.description or "missing")],
        )

    @app.context_processor
    def _page_context() -> dict[str, Any]:
        who = session_principal()
        return {
            "lang": words.lang(),
            "languages": words.LANGUAGES,
            "who": who,
            "who_name": (who.name or "").removeprefix("user:") if who else "",
            "role_name": words.ROLES.get(who.role, who.role) if who else "",
            "words": words,
            "csp_nonce": csp_nonce,
        }

    @app.after_request
    def _page_headers(resp: Response) -> Response:
        if resp.mimetype != "text/html":
            return resp
        if "Content-Security-Policy" not in resp.headers:
            sources = [f"'nonce-{g.csp_nonce}'"] if "csp_nonce" in g else []
            if not resp.is_streamed and "Content-Encoding" not in resp.headers:
                # A page a library renders (the API docs): its own inline scripts, by hash.
                sources += inline_script_hashes(resp.get_data())
            resp.headers["Content-Security-Policy"] = content_policy(sources)
        # Pages may hold personal data: never stored by the browser or a proxy.
        resp.headers["Cache-Control"] = "no-store"
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp
