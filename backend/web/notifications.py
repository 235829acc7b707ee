"""Notification pages: each account's own e-mail, language and choices (an officer's
alerts, an analyst's scheduled report); for admins, any account's e-mail and the
outbox's undelivered messages, sent again with a button."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _

from backend.api.context import database, record_access, session_principal
from backend.errors import QonysError
from backend.services.access import accounts
from backend.services.access.tokens import Principal
from backend.services.notify import outbox
from backend.web.forms import EmptyForm, NotificationForm
from backend.web.pages import roles

bp = Blueprint("notifications", __name__)


def _me() -> Principal:
    who = session_principal()
    if who is None:
        abort(401)
    return who


@bp.route("/notifications", methods=["GET", "POST"])
@roles("admin", "analyst", "officer", "employer")
def settings_page() -> Any:
    who = _me()
    own = (who.name or "").removeprefix("user:")
    form = NotificationForm()
    saved, error = None, None
    with database().transaction() as db:
        if request.method == "POST" and form.validate():
            # An admin may set another account's address (the admin page of the issue).
            target = (form.username.data or "").strip() if who.role == "admin" else ""
            target = target or own
            try:
                user = accounts.set_notifications(
                    db,
                    target,
                    form.email.data or "",
                    form.language.data,
                    form.alert_delivery.data,
                )
                accounts.set_report(
                    db,
                    user,
                    form.report_schedule.data or None,
                    form.report_region_kato.data or None,
                )
            except QonysError as exc:
                error = exc.errors[0].message if exc.errors else exc.detail
            else:
                record_access(db, "users.notifications", [None], f"user {target}")
                saved = target
        me = accounts.find_user(db, own)
        if request.method == "GET":
            form.email.data = me.email or ""
            form.language.data = me.language
            form.alert_delivery.data = me.alert_delivery
            form.report_schedule.data = me.report_schedule or ""
            form.report_region_kato.data = me.report_region_kato or ""
        users = accounts.list_users(db) if who.role == "admin" else []
        return render_template(
            "web/notifications.html", form=form, saved=saved, error=error, users=users, me=me
        )


@bp.route("/outbox", methods=["GET", "POST"])
@roles("admin")
def outbox_page() -> Any:
    form = EmptyForm()
    resent, error = None, None
    with database().transaction() as db:
        if request.method == "POST" and form.validate():
            try:
                row = outbox.resend(db, int(request.form.get("outbox_id", "0")))
            except (QonysError, ValueError) as exc:
                error = exc.detail if isinstance(exc, QonysError) else _("Choose a message.")
            else:
                record_access(db, "outbox.resend", [None], str(row.id))
                resent = row.id
        status = request.args.get("status", "dead")
        rows = outbox.list_messages(
            db,
            status if status in ("dead", "pending", "delivered", "cancelled") else "dead",
            100,
            None,
        )
        record_access(db, "outbox.list", [None], status)
        return render_template(
            "web/outbox.html",
            rows=rows,
            counts=outbox.counts(db),
            status=status,
            resent=resent,
            error=error,
        )
