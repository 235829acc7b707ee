"""The outbox: every message and webhook is a row written in the event's own transaction.

An event that rolls back takes its messages with it; one that commits has them, whatever
happens to Redis or a worker afterwards. Delivery (:func:`deliver`) then works row by row:

1. *claim* (a short transaction): the row, due and pending, is locked SKIP LOCKED, its
   try counted and its next try moved a lease ahead — so a worker killed mid-delivery
   leaves a row that is simply tried again when the lease runs out;
2. *send*, outside any transaction, with the row's ``message_id`` as the idempotency key
   (``webhook-id``, the e-mail's Message-ID, the SMS gateway's id): a receiver that saw
   the message before a crash recognises the retry;
3. *settle*: delivered, or the next try after an exponential backoff, or ``dead`` after
   the last one. Admins list the dead and send them again (:func:`resend`).

Who is told what is decided in :mod:`backend.services.notify.notify`; how each channel sends is
:mod:`backend.services.notify.channels`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from backend import clock
from backend.db import Database
from backend.errors import Conflict, NotFound
from backend.models import OutboxMessage, PushSubscription, WebhookSubscription
from backend.settings import Settings

log = logging.getLogger("qonys.outbox")

# The session's ``info`` key listing the ids written in its transaction: after commit the
# app asks a worker for them at once (backend/jobs/outbox.py); anything missed (Redis
# down) is found by the periodic dispatch.
WRITTEN = "qonys.outbox.written"


def written(session: Session, ids: list[int]) -> None:
    session.info.setdefault(WRITTEN, []).extend(ids)


def add(
    session: Session,
    channel: str,
    event_type: str,
    recipient: str,
    payload: dict[str, Any],
    *,
    batch_key: str | None = None,
    not_before: datetime | None = None,
) -> None:
    """Queue one e-mail or SMS in the caller's transaction (one INSERT)."""
    values: dict[str, Any] = {
        "message_id": str(uuid.uuid4()),
        "channel": channel,
        "event_type": event_type,
        "recipient": recipient,
        "payload": payload,
        "batch_key": batch_key,
    }
    if not_before is not None:
        values["next_attempt_at"] = not_before
    new_id = session.execute(insert(OutboxMessage).values(values).returning(OutboxMessage.id))
    if not_before is None:
        written(session, [new_id.scalar_one()])


_FAN_OUT = text(
    """
    INSERT INTO outbox (message_id, channel, event_type, recipient, subscription_id, payload)
    SELECT gen_random_uuid(), 'webhook', :type, url, id, CAST(:payload AS jsonb)
      FROM webhook_subscriptions
     WHERE deleted_at IS NULL AND :type = ANY(events)
    RETURNING id
    """
)


def add_webhooks(session: Session, event_type: str, data: dict[str, Any]) -> None:
    """One webhook per subscription to ``event_type``, in one statement.

    The body follows Standard Webhooks: ``{"type", "timestamp", "data"}``; ``data`` holds
    ids and states only (the schemas are in the OpenAPI document).
    """
    body = {"type": event_type, "timestamp": clock.now().isoformat(), "data": data}
    ids = session.scalars(_FAN_OUT, {"type": event_type, "payload": json.dumps(body)}).all()
    if ids:
        written(session, list(ids))


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait after ``attempts`` failed tries: base × 4^(n-1), capped."""
    seconds = settings.outbox_backoff_s * 4 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.outbox_backoff_max_s))


def due(session: Session, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Pending rows whose next try has come, oldest first."""
    return list(
        session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= (now or clock.now()),
            )
            .order_by(OutboxMessage.next_attempt_at)
            .limit(limit)
        )
    )


class Gone(Exception):  # the receiver's word, as HTTP 410 says it
    """The recipient no longer exists (a push service's 404/410): the message is
    cancelled, not retried, and the subscription forgotten."""


@dataclass(frozen=True)
class Claimed:
    """A row taken for one try, with the rows of its batch (a digest), its webhook
    secret or its push subscription's keys."""

    id: int
    message_id: str
    channel: str
    event_type: str
    recipient: str
    payload: dict[str, Any]
    attempts: int
    batch: list[dict[str, Any]]
    batch_ids: list[int]
    secret: str | None
    push_keys: dict[str, str] | None = None


def claim(session: Session, outbox_id: int, now: datetime, lease: timedelta) -> Claimed | None:
    """Take a due row for one try; None when it is not due, done, or another has it."""
    row = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
        )
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if row is None:
        return None
    secret = None
    if row.subscription_id is not None:
        sub = session.get(WebhookSubscription, row.subscription_id)
        if sub is None or sub.deleted_at is not None:
            row.status, row.last_error = "cancelled", "the subscription was deleted"
            return None
        secret = sub.secret
    push_keys = None
    if row.channel == "push":
        push = session.scalars(
            select(PushSubscription).where(PushSubscription.endpoint == row.recipient)
        ).one_or_none()
        if push is None:
            row.status, row.last_error = "cancelled", "the push subscription was withdrawn"
            return None
        push_keys = {"p256dh": push.p256dh, "auth": push.auth}
    batch: list[OutboxMessage] = [row]
    if row.batch_key is not None:
        batch += session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.batch_key == row.batch_key,
                OutboxMessage.status == "pending",
                OutboxMessage.id != row.id,
            )
            .order_by(OutboxMessage.id)
            .with_for_update(skip_locked=True)
        ).all()
    for each in batch:
        each.attempts += 1
        each.next_attempt_at = now + lease
    return Claimed(
        id=row.id,
        message_id=row.message_id,
        channel=row.channel,
        event_type=row.event_type,
        recipient=row.recipient,
        payload=row.payload,
        attempts=row.attempts,
        batch=[each.payload for each in batch],
        batch_ids=[each.id for each in batch],
        secret=secret,
        push_keys=push_keys,
    )


def settle(
    session: Session,
    claimed: Claimed,
    settings: Settings,
    now: datetime,
    error: str | None,
    gone: bool = False,
) -> str:
    """Record a try's outcome on the claimed rows; the status they end in. ``gone``: the
    recipient no longer exists: cancelled, and a push subscription forgotten."""
    if gone and claimed.channel == "push":
        session.execute(
            delete(PushSubscription).where(PushSubscription.endpoint == claimed.recipient)
        )
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(claimed.batch_ids)).with_for_update()
    ).all()
    status = "delivered"
    for row in rows:
        if gone:
            row.status, row.last_error = "cancelled", (error or "gone")[:500]
            status = row.status
        elif error is None:
            row.status, row.delivered_at, row.last_error = "delivered", now, None
        else:
            row.last_error = error[:500]
            if row.attempts >= settings.outbox_max_attempts:
                row.status = "dead"
            else:
                row.next_attempt_at = now + backoff(settings, row.attempts)
            status = row.status
    return status


# channel -> how a claimed message is sent; raises on failure (backend/services/notify/channels.py).
Sender = Callable[[Settings, Claimed], None]


def deliver(
    database: Database,
    settings: Settings,
    outbox_id: int,
    senders: dict[str, Sender],
    now: datetime | None = None,
) -> str:
    """One try of one message: claim, send, settle. Safe to run twice or concurrently:
    a row not due, or taken, is ``skipped``."""
    now = now or clock.now()
    with database.transaction() as session:
        claimed = claim(session, outbox_id, now, timedelta(seconds=settings.outbox_lease_s))
    if claimed is None:
        return "skipped"
    error, gone = None, False
    try:
        senders[claimed.channel](settings, claimed)
    except Gone as exc:
        error, gone = f"gone: {exc}", True
        log.info("outbox %s (%s): the recipient is gone (%s)", claimed.id, claimed.channel, exc)
    except Exception as exc:  # any failure of a receiver is a failed try, retried
        error = f"{type(exc).__name__}: {exc}"
        log.warning(
            "outbox %s (%s) try %s failed: %s", claimed.id, claimed.channel, claimed.attempts, error
        )
    with database.transaction() as session:
        return settle(session, claimed, settings, now, error, gone)


def list_messages(
    session: Session, status: str | None, limit: int, after: int | None
) -> list[OutboxMessage]:
    """Messages newest first, by status; ``after`` is the last id of the previous page."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    if after is not None:
        query = query.where(OutboxMessage.id < after)
    return list(session.scalars(query))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ).all()
    return {status: int(n) for status, n in rows}


def resend(session: Session, outbox_id: int) -> OutboxMessage:
    """A dead or cancelled message tried again from the first try, with the same
    idempotency key (a receiver that did get it recognises it)."""
    row = session.scalars(
        select(OutboxMessage).where(OutboxMessage.id == outbox_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"message {outbox_id} not found")
    if row.status not in ("dead", "cancelled"):
        raise Conflict(
            f"message {outbox_id} is {row.status}; only dead or cancelled ones are sent again"
        )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(status="pending", attempts=0, next_attempt_at=clock.now(), last_error=None)
    )
    session.refresh(row)
    written(session, [row.id])
    return row
