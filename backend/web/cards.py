"""Alerts as work items: the person's card an alert opens, resolving from it, and the
home page's alert rows refreshed without a reload.

The card reads under the case reference the analyst stated (kept in the session and
recorded as the purpose of every read); resolving follows the API's rules because it
calls the same service and event (``POST /api/v1/alerts/{id}/resolution``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.api.context import database, record_access
from backend.errors import QonysError
from backend.models import DuplicateReview, Person
from backend.services import events
from backend.services.access import scope
from backend.services.access.tokens import Principal
from backend.services.identity import matching
from backend.services.register import persons
from backend.services.tracking import alert_store
from backend.web import messages, words
from backend.web.forms import PurposeForm, ResolveForm
from backend.web.pages import _me, _posted, roles

bp = Blueprint("cards", __name__)
ALERT_ROWS = 50


@bp.route("/people/<int:person_id>", methods=["GET", "POST"])
@roles("admin", "analyst")
def person_card(person_id: int) -> Any:
    """The person an alert or a lookup names, with their alerts and a resolve form each."""
    who = _me()
    purpose_form = PurposeForm()
    if _posted("purpose") and purpose_form.validate():
        session["purpose"] = (purpose_form.purpose.data or "").strip()
        return redirect(url_for("cards.person_card", person_id=person_id, **_keep()))
    purpose = session.get("purpose")
    if not purpose:
        # No personal data before the reason for reading it is stated.
        return render_template(
            "web/person.html", person=None, person_id=person_id, purpose_form=purpose_form
        )
    errors: dict[int, dict[str, str]] = {}
    done = request.args.get("resolved", type=int)
    with database().transaction() as db:
        if _posted("resolve"):
            form = ResolveForm()
            alert_id = request.form.get("alert_id", type=int) or 0
            if form.validate():
                try:
                    alert = alert_store.resolve_alert(
                        db, who, alert_id, form.reason.data or "", bool(form.confirmed.data)
                    )
                    events.alert_resolved(
                        db, alert, form.reason.data or "", bool(form.confirmed.data)
                    )
                    record_access(db, "alerts.resolve", [alert.person_id], form.reason.data)
                except QonysError as exc:
                    errors[alert_id] = messages.field_errors(exc, "reason")
                else:
                    return redirect(
                        url_for(
                            "cards.person_card", person_id=person_id, resolved=alert.id, **_keep()
                        )
                    )
            else:
                errors[alert_id] = {k: str(v[0]) for k, v in form.errors.items() if v}
        alerts = alert_store.person_alerts(db, who, person_id)
        person = persons.get_person(db, person_id)
        record_access(db, "person.read", [person.id], purpose)
        duplicates = _duplicates(db, who, person, purpose)
        return render_template(
            "web/person.html",
            person=person,
            person_id=person_id,
            alerts=alerts,
            errors=errors,
            done=done,
            purpose=purpose,
            purpose_form=purpose_form,
            regions=words.region_names(db),
            typed=request.form if _posted("resolve") else {},
            **duplicates,
        )


def _duplicates(db: Session, who: Principal, person: Person, purpose: str) -> dict[str, Any]:
    """Who else in the register may be this person: the open review items that name them
    and the candidates the match scores now (the same rules as ``/persons/matches``;
    pairs an admin decided ``different`` are left out), each under the reader's scope.
    Reading the candidates is audited as a match, the review items as the queue."""
    reviews = list(
        db.scalars(
            select(DuplicateReview)
            .where(
                DuplicateReview.status == "open",
                or_(
                    DuplicateReview.person_id == person.id,
                    DuplicateReview.candidate_id == person.id,
                ),
            )
            .order_by(DuplicateReview.score.desc(), DuplicateReview.id)
        )
    )
    found = matching.candidates(db, matching.person_data(person), exclude=person.id)
    others = {r.candidate_id if r.person_id == person.id else r.person_id for r in reviews}
    visible = {pid for pid in others | {c.person_id for c in found} if scope.in_scope(db, who, pid)}
    names = {p.id: p for p in db.scalars(select(Person).where(Person.id.in_(visible or {0})))}
    review_rows: list[tuple[DuplicateReview, Person]] = []
    for r in reviews:
        other = r.candidate_id if r.person_id == person.id else r.person_id
        if other in names:
            review_rows.append((r, names[other]))
    candidate_rows = [(c, names[c.person_id]) for c in found if c.person_id in names]
    if review_rows:
        record_access(db, "duplicates.list", sorted({p.id for _r, p in review_rows}), purpose)
    if candidate_rows:
        record_access(db, "person.match", [p.id for _c, p in candidate_rows], purpose)
    return {"reviews": review_rows, "candidates": candidate_rows}


@bp.get("/alerts/rows")
@roles("admin", "analyst")
def alert_rows() -> Any:
    """The home page's open alerts (its table body), polled every few seconds."""
    who = _me()
    purpose = session.get("purpose")
    if not purpose:  # alerts name persons: as on the API, only under a stated purpose
        return render_template("web/_alert_rows.html", alerts=[], regions={})
    with database().transaction() as db:
        alerts, _next = alert_store.list_alerts(db, who, None, None, "open", ALERT_ROWS, None)
        record_access(db, "alerts.list", sorted({a.person_id for a in alerts}) or [None], purpose)
        return render_template(
            "web/_alert_rows.html", alerts=alerts, regions=words.region_names(db)
        )


def _keep() -> dict[str, Any]:
    """The page's language, carried over a redirect."""
    lang = request.args.get("lang")
    return {"lang": lang} if lang else {}
