"""Webhook subscriptions of other state systems (admins manage them).

The secret, in the Standard Webhooks ``whsec_<base64>`` form, is shown once, in the
answer that creates the subscription; deliveries are signed with it
(:func:`backend.services.notify.channels.send_webhook`).
"""

from __future__ import annotations

import base64
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Invalid, NotFound
from backend.models import WebhookSubscription
from backend.models.registries import WEBHOOK_EVENTS


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def subscribe(session: Session, url: str, events: list[str], actor: str) -> WebhookSubscription:
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown:
        raise Invalid("events", f"unknown event types: {', '.join(unknown)}")
    if not events:
        raise Invalid("events", "name at least one event type")
    row = WebhookSubscription(
        id=str(uuid.uuid4()),
        url=url,
        events=sorted(set(events)),
        secret=new_secret(),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(
        session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.deleted_at.is_(None))
            .order_by(WebhookSubscription.created_at)
        )
    )


def unsubscribe(session: Session, subscription_id: str) -> WebhookSubscription:
    """Stop deliveries; messages still waiting for it are cancelled when tried."""
    row = session.get(WebhookSubscription, subscription_id, with_for_update=True)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"webhook subscription {subscription_id} not found")
    row.deleted_at = clock.now()
    session.flush()
    return row
