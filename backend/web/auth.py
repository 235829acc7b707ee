"""Sign-in (password, then TOTP where required or enrolled), enrolment, sign-out."""

from __future__ import annotations

from typing import Any

import segno
from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from backend import clock
from backend.api.context import database, session_principal, settings
from backend.api.limits import client_address, limiter, signin_limit
from backend.errors import Invalid
from backend.models import User
from backend.services import accounts, audit
from backend.web.forms import EmptyForm, LoginForm, TotpForm
from backend.web.session import SessionUser, begin

bp = Blueprint("web_auth", __name__)


def _home_for(role: str) -> str:
    return {"officer": "web.officer", "employer": "web.employer"}.get(role, "web.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(signin_limit, key_func=client_address, methods=["POST"])
def login() -> Any:
    form = LoginForm()
    error, step_user, needs_totp = None, None, False
    if form.validate_on_submit():
        # The failure is written (count, lock, audit) even though sign-in is refused:
        # it is caught inside the transaction, which then commits.
        with database().transaction() as db:
            try:
                step = accounts.check_password(
                    db, form.username.data or "", form.password.data or "", settings()
                )
            except accounts.SignInRefused as exc:
                error = (
                    _(
                        "The account is locked for %(n)s minutes after repeated failures.",
                        n=exc.locked_minutes,
                    )
                    if exc.locked_minutes
                    else _("Wrong username or password.")
                )
            else:
                needs_totp = step.needs_totp
                if not needs_totp:
                    accounts.signed_in(db, step.user)
                step_user = SessionUser(step.user)
    elif request.method == "POST":
        error = _("Enter the username and password.")
    if step_user is not None:
        begin()
        if needs_totp:
            session["pending_user"] = step_user.id
            return redirect(url_for("web_auth.totp", next=request.args.get("next")))
        login_user(step_user)
        return redirect(_next_or(_home_for(step_user.principal.role)))
    return render_template("web/login.html", form=form, error=error), 401 if error else 200


def _next_or(endpoint: str) -> str:
    target = request.args.get("next", "")
    # Only a path on this site: never an open redirect.
    if target.startswith("/") and not target.startswith("//"):
        return target
    return url_for(endpoint)


@bp.route("/login/totp", methods=["GET", "POST"])
@limiter.limit(signin_limit, key_func=client_address, methods=["POST"])
def totp() -> Any:
    user_id = session.get("pending_user")
    if user_id is None:
        return redirect(url_for("web_auth.login"))
    form = TotpForm()
    error, signed, qr = None, None, None
    with database().transaction() as db:
        user = db.get(User, user_id, with_for_update=True)
        locked = user is not None and user.locked_until and user.locked_until > clock.now()
        if user is None or user.disabled or locked:
            session.clear()
            return redirect(url_for("web_auth.login"))
        enrolling = not user.totp_confirmed
        secret = accounts.totp_secret(db, user)
        if form.validate_on_submit():
            try:
                accounts.check_totp(db, user, form.code.data or "", settings())
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
        if who is not None:
            with database().transaction() as db:
                audit.record(db, who, "logout", [None])
        logout_user()
        session.clear()
    return redirect(url_for("web_auth.login"))
