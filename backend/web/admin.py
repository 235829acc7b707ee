"""The administrator's page: accounts, tokens, and phones enrolled from the browser.

Revoking a token or disabling an account asks first and then says what happened. The
token table shows what ``qonys token list`` shows, in words. Enrolment refuses a public
URL that names this machine unless the administrator says it is a test on this machine:
a phone given 127.0.0.1 would send its points to itself.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from backend.api.context import database, record_access
from backend.errors import QonysError
from backend.services.access import accounts, tokens
from backend.services.tracking import devices
from backend.web import messages, words
from backend.web.forms import EmptyForm, EnrolForm
from backend.web.pages import _me, _posted, roles

bp = Blueprint("admin", __name__)


@bp.route("/admin", methods=["GET", "POST"])
@roles("admin")
def admin() -> Any:
    settings = current_app.extensions["qonys.settings"]
    loopback = devices.loopback_url(settings.public_url)
    ask, said, enrolled, codes = None, None, None, {}
    enrol_form = EnrolForm()
    enrol_errors: dict[str, str] = {}
    revoked_hash = None
    valid = EmptyForm().validate() if request.method == "POST" else False
    with database().transaction() as db:
        if valid and _posted("revoke-token"):
            row = tokens.find_token(db, request.form.get("token_id", ""))
            if request.form.get("confirm") != "yes":
                ask = {"what": "revoke-token", "token": row}
            else:
                row = tokens.revoke_token(db, row)
                record_access(db, "tokens.revoke", [row.person_id])
                revoked_hash = row.token_hash
                said = _("Token no. %(id)s is revoked: it is refused from now on.", id=row.id)
        elif valid and _posted("disable-user"):
            username = request.form.get("username", "")
            if request.form.get("confirm") != "yes":
                ask = {"what": "disable-user", "username": username}
            else:
                accounts.disable_user(db, username)
                record_access(db, "users.disable", [None], username)
                said = _("Account %(name)s is disabled and signed out.", name=username)
        elif _posted("enrol"):
            if not enrol_form.validate():
                enrol_errors = {k: str(v[0]) for k, v in enrol_form.errors.items() if v}
            elif loopback and not enrol_form.loopback_ok.data:
                enrol_errors["loopback_ok"] = _(
                    "Refused: phones would send to themselves. Set QONYS_PUBLIC_URL to the "
                    "address phones reach, or tick the box for a test on this machine."
                )
            else:
                try:
                    enrolled = devices.enrol(
                        db,
                        int(enrol_form.person_id.data or 0),
                        settings.public_url,
                        enrol_form.days.data or settings.device_token_days or None,
                        owner=_me().person,
                    )
                except QonysError as exc:
                    enrol_errors = messages.field_errors(exc, "person_id")
                else:
                    record_access(db, "devices.enrol", [enrolled.person_id], "admin page")
                    codes = devices.qr_data_uris(enrolled)
        users = accounts.list_users(db)
        token_rows = tokens.list_tokens(db)
        page = render_template(
            "web/admin.html",
            users=users,
            tokens=token_rows,
            ask=ask,
            said=said,
            enrol_form=enrol_form,
            enrol_errors=enrol_errors,
            enrolled=enrolled,
            codes=codes,
            loopback=loopback,
            public_url=settings.public_url,
            regions=words.region_names(db),
        )
    if revoked_hash:
        tokens.announce_revocation(current_app.extensions["qonys.redis"], revoked_hash)
    return page
