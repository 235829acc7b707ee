"""Sign-in (password, then TOTP where required or enrolled), enrolment, sign-out."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import segno
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from backend.api.context import database, session_principal, settings
from backend.api.limits import client_address, limiter, signin_limit
from backend.errors import Invalid
from backend.models import User
from backend.services.access import accounts, audit, signin_throttle
from backend.services.access.signin_throttle import Attempt
from backend.web.forms import EmptyForm, LoginForm, TotpForm
from backend.web.session import SessionUser, begin

bp = Blueprint("web_auth", __name__)


def _home_for(role: str) -> str:
    return {"officer": "web.officer", "employer": "web.employer"}.get(role, "web.home")


def _attempt(username: str) -> Attempt:
    """This request's sign-in attempt: the name keyed with the app secret, the address."""
    secret = str(current_app.secret_key).encode()
    return Attempt.of(username, request.remote_addr or "unknown", secret)


# One wording for every refusal (unknown name, wrong password or code, disabled, waiting).
def _refused() -> str:
    text: str = _("Sign-in refused. Check the username and password, or try again later.")
    return text


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(signin_limit, key_func=client_address, methods=["POST"])
def login() -> Any:
    form = LoginForm()
    error, step_user, needs_totp = None, None, False
    if form.validate_on_submit():
        username = form.username.data or ""
        # The failure is written (count, back-off, audit) even though sign-in is refused:
        # it is caught inside the transaction, which then commits.
        with database().transaction() as db:
            try:
                step = accounts.check_password(
                    db, username, form.password.data or "", settings(), _attempt(username)
                )
            except accounts.SignInRefused:
                error = _refused()
            else:
                needs_totp = step.needs_totp
                if not needs_totp:
                    accounts.signed_in(db, step.user, _attempt(username))
                step_user = SessionUser(step.user)
    elif request.method == "POST":
        error = _("Enter the username and password.")
    if step_user is not None:
        begin()
        if needs_totp:
            session["pending_user"] = step_user.id
            session["pending_key"] = _attempt(form.username.data or "").username_key
            return redirect(url_for("web_auth.totp", next=safe_next()))
        login_user(step_user)
        return redirect(_next_or(_home_for(step_user.principal.role)))
    return render_template("web/login.html", form=form, error=error), 401 if error else 200


def safe_next() -> str | None:
    """``next`` when it is a path on this site, checked as a browser would read it (after
    decoding, with tabs and newlines dropped, backslashes as slashes); else None."""
    target = request.args.get("next", "")
    if not target or len(target) > 2000:
        return None
    decoded = target
    for _round in range(3):  # %2F%2F..., and %252F...: decode until it stops changing
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
    if any(not c.isprintable() or c.isspace() for c in decoded) or "\\" in decoded:
        return None
    parts = urlsplit(decoded)
    if parts.scheme or parts.netloc or not decoded.startswith("/") or decoded.startswith("//"):
        return None
    return target


def _next_or(endpoint: str) -> str:
    return safe_next() or url_for(endpoint)


@bp.route("/login/totp", methods=["GET", "POST"])
@limiter.limit(signin_limit, key_func=client_address, methods=["POST"])
def totp() -> Any:
    user_id = session.get("pending_user")
    if user_id is None:
        return redirect(url_for("web_auth.login"))
    attempt = Attempt(str(session.get("pending_key", "")), request.remote_addr or "unknown")
    form = TotpForm()
    error, signed, qr = None, None, None
    with database().transaction() as db:
        user = db.get(User, user_id, with_for_update=True)
        if user is None or user.disabled or signin_throttle.blocked(db, attempt):
            session.clear()
            return redirect(url_for("web_auth.login"))
        enrolling = not user.totp_confirmed
        secret = accounts.totp_secret(db, user)
        if form.validate_on_submit():
            try:
                accounts.check_totp(db, user, form.code.data or "", settings(), attempt)
            except Invalid:
                error = _("The code is not the current one.")
            else:
                signed = SessionUser(user)
        elif form.is_submitted():
            error = _("Enter the six digits.")
        if enrolling:
            qr = segno.make(accounts.totp_uri(user, secret), error="m").svg_data_uri(scale=5)
    if signed is not None:
        session.pop("pending_user", None)
        session.pop("pending_key", None)
        login_user(signed)
        return redirect(_next_or(_home_for(signed.principal.role)))
    page = render_template(
        "web/totp.html",
        form=form,
        error=error,
        enrolling=enrolling,
        secret=secret if enrolling else None,
        qr=qr,
    )
    return page, 401 if error else 200


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    form = EmptyForm()
    if form.validate_on_submit():
        who = session_principal()
        if who is not None and who.user_id is not None:
            with database().transaction() as db:
                # Every copy of the cookie ends here, not only this browser's.
                accounts.sign_out(db, who.user_id)
                audit.record(db, who, "logout", [None])
        logout_user()
        session.clear()
    return redirect(url_for("web_auth.login"))
