"""The alert store: open, refresh, close, list and resolve alerts.

One open alert per person and kind (a partial unique index guarantees it). What opens or
closes an alert is decided elsewhere: the trace and register rules in
:mod:`backend.services.tracking.alert_rules` and :mod:`backend.services.tracking.residence`, the
consequences of an official's decision in :mod:`backend.services.events`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import case, select, text, tuple_
from sqlalchemy.orm import Session

from backend.clock import now
from backend.db import locked_by_person
from backend.errors import Conflict, NotFound, OutOfScope
from backend.models import Alert
from backend.models.registries import URGENT_ALERT_KINDS
from backend.services.access.scope import in_scope, scope_clause
from backend.services.access.tokens import Principal
from backend.services.notify import notify
from backend.services.pagination import decode_ranked_cursor, encode_ranked_cursor

EVAL_LOCK_CLASS = 42


def open_alert(
    session: Session, person_id: int, kind: str, region_kato: str | None, details: dict[str, Any]
) -> None:
    """Open the alert, or refresh the details of the one already open."""
    row = session.execute(
        text(
            """
            INSERT INTO alerts (person_id, kind, region_kato, details)
            VALUES (:p, :k, :r, CAST(:d AS jsonb))
            ON CONFLICT (person_id, kind) WHERE status = 'open'
            DO UPDATE SET details = EXCLUDED.details, region_kato = EXCLUDED.region_kato
            RETURNING id, xmax = 0 AS opened
            """
        ),
        {"p": person_id, "k": kind, "r": region_kato, "d": json.dumps(details, default=str)},
    ).one()
    if row.opened:  # a new alert, not the refresh of one open: who must hear of it
        notify.alert_opened(session, row.id, person_id, kind, region_kato)


def close_alert(session: Session, person_id: int, kind: str, reason: str) -> None:
    session.execute(
        text(
            """
            UPDATE alerts SET status = 'closed', closed_at = now(), close_reason = :reason
            WHERE person_id = :p AND kind = :k AND status = 'open'
            """
        ),
        {"p": person_id, "k": kind, "reason": reason},
    )


def lock_person(session: Session, person_id: int) -> None:
    """Serialize alert evaluations of one person until the transaction ends."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:c, :k)"),
        {"c": EVAL_LOCK_CLASS, "k": person_id % 2_147_483_647},
    )


def list_alerts(
    session: Session,
    principal: Principal,
    kind: str | None,
    region_kato: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Alert], str | None]:
    # An officer bound to a region sees the alerts about the persons in their scope
    # (backend.services.access.scope), wherever the alert arose; ``region_kato`` narrows further.
    scope = scope_clause(principal, "alerts.person_id")
    # Urgent kinds first, then by id: the keyset is (rank, id).
    rank = case((Alert.kind.in_(URGENT_ALERT_KINDS), 0), else_=1)
    after_rank, after_id = decode_ranked_cursor(cursor)
    query = (
        select(Alert)
        .where(tuple_(rank, Alert.id) > tuple_(after_rank, after_id))
        .order_by(rank, Alert.id)
        .limit(limit)
    )
    if scope is not None:
        query = query.where(scope)
    if kind:
        query = query.where(Alert.kind == kind)
    if region_kato:
        query = query.where(Alert.region_kato == region_kato)
    if status:
        query = query.where(Alert.status == status)
    alerts = list(session.scalars(query))
    if len(alerts) < limit:
        return alerts, None
    return alerts, encode_ranked_cursor(0 if alerts[-1].urgent else 1, alerts[-1].id)


def resolve_alert(
    session: Session, principal: Principal, alert_id: int, reason: str, confirmed: bool = False
) -> Alert:
    """An official closes an alert with a reason (e.g. a late notice reviewed).

    What a confirmation leads to (a breached settlement obligation) follows in
    :func:`backend.services.events.alert_resolved`.
    """
    alert = locked_by_person(session, Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    if not in_scope(session, principal, alert.person_id):
        raise OutOfScope(f"alert {alert_id} not found", alert.person_id)
    if alert.status != "open":
        raise Conflict(f"alert {alert_id} is already closed")
    alert.status = "closed"
    alert.closed_at = now()
    alert.close_reason = f"{principal.actor}: {'confirmed' if confirmed else 'closed'}: {reason}"
    session.flush()
    return alert


def person_alerts(session: Session, principal: Principal, person_id: int) -> list[Alert]:
    """A person's alerts, open and urgent first, then the latest: the card's work list."""
    if not in_scope(session, principal, person_id):
        raise OutOfScope(f"person {person_id} not found", person_id)
    rank = case((Alert.kind.in_(URGENT_ALERT_KINDS), 0), else_=1)
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.person_id == person_id)
            .order_by(Alert.status.desc(), rank, Alert.opened_at.desc())
            .limit(50)
        )
    )
