"""The pages: the analyst/admin home, the field officer's check, the employer's notices.

Each page calls the same services as the API, with the signed-in account's principal,
and audits the same way. Pages with personal data are never cached (see
:mod:`backend.web.setup`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from backend import clock
from backend.api.context import audit_context, database, record_access, session_principal
from backend.errors import NotFound, QonysError
from backend.identifiers import ascii_digits, document_key, iin_problem, iin_typed
from backend.models import Alert, Job, Permit, Person, Registration, TerminationNotice
from backend.services import events, policy
from backend.services.access import scope
from backend.services.access.tokens import Principal
from backend.services.register import checks, offline_checks, permits, persons, registrations
from backend.services.tracking import alert_store
from backend.web import messages, offline, words
from backend.web.forms import (
    CheckForm,
    NearForm,
    NoticeForm,
    PersonLookupForm,
    PurposeForm,
)

bp = Blueprint("web", __name__)
F = TypeVar("F", bound=Callable[..., Any])
NEAR_RADIUS_M = 500


def _me() -> Principal:
    who = session_principal()
    if who is None:
        abort(401)
    return who


def roles(*allowed: str) -> Callable[[F], F]:
    """Signed in with one of ``allowed`` roles; another role gets 403."""

    def wrap(view: F) -> F:
        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            if _me().role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        guarded: F = login_required(run)
        return guarded

    return wrap


def _posted(name: str) -> bool:
    """Which of a page's forms was sent (each carries a hidden ``form`` field)."""
    return request.method == "POST" and request.form.get("form") == name


def _message(exc: QonysError) -> str:
    return exc.errors[0].message if exc.errors else exc.detail


def _lookup_message(message: str) -> str:
    """A check's refusal of a mistyped number, in the reader's language."""
    if message == checks.IIN_CHECK_DIGIT_WRONG:
        return str(_("The IIN check digit is wrong."))
    if message == checks.DOCUMENT_NUMBER_NOT_VALID:
        return str(_("The number is not valid for this document type."))
    return message


def _mistyped_iin(typed: str) -> bool:
    """Twelve digits as typed whose IIN check fails: said as such, never "not found"."""
    digits = iin_typed(typed.strip())
    return len(digits) == 12 and ascii_digits(digits) and iin_problem(digits) is not None


@bp.route("/", methods=["GET", "POST"])
@roles("admin", "analyst", "officer", "employer")
def home() -> Any:
    who = _me()
    if who.role in ("officer", "employer"):
        return redirect(url_for(f"web.{who.role}"))
    purpose_form, lookup = PurposeForm(), PersonLookupForm()
    found: list[Any] = []
    lookup_error = None
    if _posted("purpose") and purpose_form.validate():
        # Kept for the session until changed: every personal read below carries it.
        session["purpose"] = (purpose_form.purpose.data or "").strip()
    with database().transaction() as db:
        if _posted("lookup"):
            if not lookup.validate():
                lookup_error = str(lookup.key.errors[0])
            elif not session.get("purpose"):
                lookup_error = _("State the case reference first: it is recorded as the purpose.")
            elif _mistyped_iin(lookup.key.data or ""):
                lookup_error = _("The IIN check digit is wrong.")
            else:
                found = [
                    p
                    for p in persons.find_person(db, lookup.key.data or "")
                    if scope.in_scope(db, who, p.id)
                ]
                record_access(
                    db, "person.find", [p.id for p in found] or [None], session["purpose"]
                )
                if len(found) == 1:
                    return redirect(url_for("cards.person_card", person_id=found[0].id))
                if not found:
                    lookup_error = _(
                        "Not found — check the number: %(number)s",
                        number=document_key(lookup.key.data) or "",
                    )
        # Open alerts name persons: as on the API, only under a stated purpose.
        alerts: list[Alert] = []
        alerts_need_purpose = not session.get("purpose")
        if not alerts_need_purpose:
            alerts, _next = alert_store.list_alerts(db, who, None, None, "open", 50, None)
            record_access(
                db,
                "alerts.list",
                sorted({a.person_id for a in alerts}) or [None],
                session["purpose"],
            )
        jobs = list(
            db.scalars(
                select(Job)
                .where(Job.owner_user_id == who.user_id)
                .order_by(Job.created_at.desc())
                .limit(10)
            )
        )
        return render_template(
            "web/home.html",
            alerts=alerts,
            alerts_need_purpose=alerts_need_purpose,
            jobs=jobs,
            purpose_form=purpose_form,
            lookup=lookup,
            lookup_error=lookup_error,
            found=found,
            purpose=session.get("purpose"),
            regions=words.region_names(db),
        )


@bp.route("/officer", methods=["GET", "POST"])
@roles("officer")
def officer() -> Any:
    who = _me()
    form, near_form = CheckForm(), NearForm()
    result, near, error = None, None, None
    near_extra: dict[int, dict[str, Any]] = {}
    with database().transaction() as db:
        if _posted("check") and form.validate():
            key = (form.who.data or "").strip()
            digits = iin_typed(key)
            iin, document = offline_checks.split_who(digits if ascii_digits(digits) else key)
            try:
                result = checks.run_check(
                    db,
                    audit_context(),
                    iin,
                    document,
                    {"lat": float(form.lat.data or 0), "lon": float(form.lon.data or 0)},
                )
            except QonysError as exc:
                error = _lookup_message(_message(exc))
        if _posted("near") and near_form.validate():
            near = registrations.registrations_near(
                db,
                float(near_form.lat.data or 0),
                float(near_form.lon.data or 0),
                NEAR_RADIUS_M,
                20,
                who.region_kato,
            )
            record_access(db, "registration.near", [r.person_id for r in near] or [None])
            near_extra = _near_details(db, [r.id for r in near])
        return render_template(
            "web/officer.html",
            form=form,
            near_form=near_form,
            result=result,
            near=near,
            near_extra=near_extra,
            error=error,
            radius=NEAR_RADIUS_M,
            regions=words.region_names(db),
            regions_json=offline.region_names_json(),
            reasons_json=json.dumps({k: str(v) for k, v in words.REASONS.items()}),
            countries=_countries(result),
        )


def _countries(result: checks.CheckResult | None) -> dict[str, str]:
    """The checked person's citizenship in the page's language."""
    if result is None or result.person is None:
        return {}
    code = str(result.person["citizenship"])
    return {code: offline.country_name(code, words.lang())}


def _near_details(db: Any, registration_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each row's status and the IIN its "check" button sends (one query)."""
    today = clock.today()
    rows = db.execute(
        select(Registration.id, Registration.valid_to, Person.iin)
        .join(Person, Person.id == Registration.person_id)
        .where(Registration.id.in_(registration_ids))
    )
    return {
        rid: {"valid_to": valid_to, "expired": bool(valid_to and valid_to < today), "iin": iin}
        for rid, valid_to, iin in rows
    }


@bp.route("/employer", methods=["GET", "POST"])
@roles("employer")
def employer() -> Any:
    who = _me()
    bin_ = who.employer_bin or ""
    form = NoticeForm()
    filed = None
    # Refusals beside their fields (WTForms' own and the service's), what was typed kept.
    errors: dict[str, str] = {}
    chosen = request.form.get("permit_id", "") if _posted("notice") else ""
    with database().transaction() as db:
        if _posted("notice"):
            valid = form.validate()
            errors.update({name: str(msgs[0]) for name, msgs in form.errors.items() if msgs})
            if not ascii_digits(chosen) or len(chosen) > 18:
                errors["permit_id"] = _("Choose one of your permit holders.")
            elif valid:
                try:
                    notice, permit = events.file_termination_notice(
                        db,
                        bin_,
                        {
                            "permit_id": int(chosen),
                            "last_working_day": form.last_working_day.data,
                            "reason": form.reason.data,
                        },
                    )
                except QonysError as exc:
                    errors.update(messages.field_errors(exc, "permit_id"))
                else:
                    record_access(db, "permit.terminate", [permit.person_id], form.reason.data)
                    filed = notice
        holders, _cursor = permits.employer_permits(db, bin_, 500, None)
        notices = list(
            db.scalars(
                select(TerminationNotice)
                .where(TerminationNotice.employer_bin == bin_)
                .order_by(TerminationNotice.filed_at.desc())
            )
        )
        record_access(db, "permit.list", [p.person_id for p in holders] or [None])
        return render_template(
            "web/employer.html",
            form=form,
            holders=holders,
            notices=notices,
            filed=filed,
            errors=errors,
            chosen="" if filed else chosen,
            deadline_days=policy.integer(db, "termination_notice_days"),
            regions=words.region_names(db),
        )


@bp.route("/employer/holders/<int:permit_id>")
@roles("employer")
def holder(permit_id: int) -> Any:
    """One permit holder of this employer; anybody else's is simply not found."""
    who = _me()
    with database().transaction() as db:
        permit = db.get(Permit, permit_id)
        if permit is None or permit.employer_bin != who.employer_bin:
            raise NotFound(f"permit {permit_id} not found")
        person = persons.get_person(db, permit.person_id)
        record_access(db, "permit.holder.read", [person.id])
        return render_template(
            "web/holder.html", permit=permit, person=person, regions=words.region_names(db)
        )
