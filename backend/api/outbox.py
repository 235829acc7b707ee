"""Webhook subscriptions and the outbox, for administrators; officers' Web Push
subscriptions.

POST /webhooks answers the subscription's secret once; GET never shows it again. The
outbox lists messages by status and sends a dead one again, with its idempotency key.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import request

from backend.api.context import auth, principal, purpose, record_access, settings, transaction
from backend.errors import Forbidden
from backend.models import WebhookSubscription
from backend.models.registries import WEBHOOK_EVENTS
from backend.schemas import outbox as so
from backend.services.notify import contacts, outbox, push, webhooks

bp = APIBlueprint("outbox", __name__, url_prefix="/api/v1", tag="Notifications")

EVENTS_DOC = (
    "Event types: "
    + ", ".join(f"`{e}`" for e in WEBHOOK_EVENTS)
    + ". Each delivery is a POST of `{type, timestamp, data}` signed per Standard Webhooks "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256 with the secret); "
    "`data` carries ids and states, never names, IINs or coordinates (schemas: the "
    "document's `x-webhooks`). A receiver answering anything but 2xx, or not at all, gets "
    "the same message (same `webhook-id`) again after 5 s, 20 s, 80 s … up to 6 h, 8 tries."
)


def _view(row: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


@bp.post("/webhooks")
@bp.auth_required(auth, roles=["admin"])
@bp.input(so.WebhookIn, arg_name="data")
@bp.output(so.WebhookCreated, status_code=201)
@bp.doc(
    summary="Subscribe another system's URL to events; the secret is shown once",
    description=EVENTS_DOC,
)
def create_webhook(data: dict[str, Any]) -> Any:
    with transaction() as session:
        row = webhooks.subscribe(session, data["url"], data["events"], principal().actor)
        record_access(session, "webhook.create", [None], f"{row.id} {row.url}")
        return {**_view(row), "secret": row.secret}


@bp.get("/webhooks")
@bp.auth_required(auth, roles=["admin"])
@bp.output(so.WebhookList)
@bp.doc(summary="The webhook subscriptions (never their secrets)")
def list_webhooks() -> Any:
    with transaction() as session:
        return {"items": [_view(row) for row in webhooks.subscriptions(session)]}


@bp.delete("/webhooks/<uuid:subscription_id>")
@bp.auth_required(auth, roles=["admin"])
@bp.output({}, status_code=204)
@bp.doc(summary="End a subscription; its undelivered messages are cancelled")
def delete_webhook(subscription_id: Any) -> Any:
    with transaction() as session:
        row = webhooks.unsubscribe(session, str(subscription_id))
        record_access(session, "webhook.delete", [None], row.id)
    return ""


@bp.get("/outbox")
@bp.auth_required(auth, roles=["admin"])
@bp.input(so.OutboxQuery, location="query", arg_name="query")
@bp.output(so.OutboxPage)
@bp.doc(summary="Messages and webhooks by status, newest first, with counts per status")
def list_outbox(query: dict[str, Any]) -> Any:
    with transaction() as session:
        rows = outbox.list_messages(
            session, query.get("status"), query["limit"], query.get("after")
        )
        record_access(session, "outbox.list", [None], query.get("status"))
        return {
            "counts": outbox.counts(session),
            "items": [so.OutboxMessageOut().dump(r) for r in rows],
        }


@bp.post("/outbox/<id:outbox_id>/resend")
@bp.auth_required(auth, roles=["admin"])
@bp.output(so.OutboxMessageOut)
@bp.doc(summary="Send a dead or cancelled message again, from its first try")
def resend(outbox_id: int) -> Any:
    with transaction() as session:
        row = outbox.resend(session, outbox_id)
        record_access(session, "outbox.resend", [None], str(outbox_id))
        return row


@bp.post("/persons/<id:person_id>/contacts")
@bp.auth_required(auth, roles=["admin"])
@bp.input(so.ContactIn, arg_name="data")
@bp.output(so.ContactOut, status_code=201)
@bp.doc(
    summary="Hold a host's or the person's e-mail or phone, with consent and a purpose",
    description="Kept `QONYS_CONTACT_RETENTION_DAYS` after consent at most; audited.",
)
def add_contact(person_id: int, data: dict[str, Any]) -> Any:
    with transaction() as session:
        row = contacts.add_contact(session, person_id, data, settings().contact_retention_days)
        record_access(session, "contact.create", [person_id], data["purpose"])
        return row


@bp.get("/persons/<id:person_id>/contacts")
@bp.auth_required(auth, roles=["admin"])
@bp.output(so.ContactList)
@bp.doc(summary="The person's contacts on file (audited)")
def list_contacts(person_id: int) -> Any:
    why = purpose(required_for=("admin",))
    with transaction() as session:
        rows = contacts.list_contacts(session, person_id)
        record_access(session, "contact.read", [person_id], why)
        return {"items": rows}


@bp.delete("/persons/<id:person_id>/contacts/<id:contact_id>")
@bp.auth_required(auth, roles=["admin"])
@bp.output({}, status_code=204)
@bp.doc(summary="Forget a contact (consent withdrawn); audited")
def delete_contact(person_id: int, contact_id: int) -> Any:
    with transaction() as session:
        contacts.delete_contact(session, person_id, contact_id)
        record_access(session, "contact.delete", [person_id], f"contact {contact_id}")
    return ""


def _browser_user() -> int:
    """Web Push reaches a browser: only a signed-in officer's session subscribes."""
    user_id = principal().user_id
    if user_id is None:
        raise Forbidden("Web Push subscriptions belong to a browser session, not a token")
    return user_id


@bp.get("/push-subscriptions/key")
@bp.auth_required(auth, roles=["officer"])
@bp.output(so.PushKeyOut)
@bp.doc(summary="The server's VAPID public key, the page's applicationServerKey")
def push_key() -> Any:
    return {"public_key": push.public_key(settings())}


@bp.post("/push-subscriptions")
@bp.auth_required(auth, roles=["officer"])
@bp.input(so.PushSubscriptionIn, arg_name="data")
@bp.output(so.PushSubscriptionOut, status_code=201)
@bp.doc(
    summary="Keep this browser's Web Push subscription for the signed-in officer",
    description="The body is the browser's `PushSubscription.toJSON()`. The region's SOS "
    "arrives at once, other alerts as chosen on `/notifications`; the payload holds the "
    "kind, the region's name and a link, never a person or a place. A subscription the "
    "push service reports gone (404/410) is forgotten. With a browser session the CSRF "
    "token goes in `X-CSRFToken`; audited.",
)
def add_push_subscription(data: dict[str, Any]) -> Any:
    user_id = _browser_user()
    with transaction() as session:
        row = push.subscribe(
            session,
            settings(),
            user_id,
            data["endpoint"],
            data["keys"]["p256dh"],
            data["keys"]["auth"],
            request.headers.get("User-Agent"),
        )
        record_access(session, "push.subscribe", [None], f"subscription {row.id}")
        return row


@bp.delete("/push-subscriptions")
@bp.auth_required(auth, roles=["officer"])
@bp.input(so.PushSubscriptionDelete, arg_name="data")
@bp.output({}, status_code=204)
@bp.doc(summary="Stop Web Push to this browser (the officer's own subscription); audited")
def delete_push_subscription(data: dict[str, Any]) -> Any:
    user_id = _browser_user()
    with transaction() as session:
        push.unsubscribe(session, user_id, data["endpoint"])
        record_access(session, "push.unsubscribe", [None], None)
    return ""
