"""The outbox of messages and webhooks, their subscribers, and the people's contacts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base


class OutboxMessage(Base):
    """One message to deliver, written in the transaction of the event that caused it.

    ``message_id`` is the idempotency key: the ``webhook-id`` of a webhook, the
    Message-ID of an e-mail, the gateway's message id of an SMS. A retry sends the same.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[str] = mapped_column(UUID(as_uuid=False), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(2000))
    subscription_id: Mapped[str | None] = mapped_column(
        UUID(as_uuid=False), ForeignKey("webhook_subscriptions.id")
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    batch_key: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSubscription(Base):
    """Another system's endpoint and the event types it hears; the secret signs."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PersonContact(Base):
    """A host's or a foreigner's e-mail or phone: personal data held with consent, for a
    stated purpose, until ``retain_until``; every change is audited."""

    __tablename__ = "person_contacts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("persons.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2), default="ru")
    purpose: Mapped[str] = mapped_column(String(500))
    consent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retain_until: Mapped[date] = mapped_column(Date)
    # A foreigner's arrival the contact was given for: reminded before the deadline.
    arrived_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PushSubscription(Base):
    """A browser's Web Push endpoint and keys for one officer account (migration 0026);
    removed when the push service answers 404 or 410."""

    __tablename__ = "push_subscriptions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(2000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(120))
    auth: Mapped[str] = mapped_column(String(60))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
