"""How a claimed outbox message leaves: e-mail over SMTP, SMS through an HTTP gateway,
webhooks signed as Standard Webhooks, Web Push to officers' installed pages. Each raises
on any failure (the outbox retries).

Every channel sends the row's ``message_id`` as its idempotency key, so a retry after a
crash is recognisable by the receiver: the ``webhook-id`` header, the e-mail's
Message-ID, the gateway's ``$message_id``.
"""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
import string
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import quote_plus, unquote, urlsplit

import requests
from pywebpush import WebPushException, webpush
from standardwebhooks import Webhook

from backend import clock
from backend.models.registries import URGENT_ALERT_KINDS
from backend.services.notify import messages, push
from backend.services.notify.outbox import Claimed, Gone, Sender
from backend.settings import Settings


class NotConfigured(RuntimeError):
    """The channel's server is not configured; the message waits (and is retried)."""


def _rendered(settings: Settings, claimed: Claimed) -> messages.Rendered:
    payload = claimed.payload
    language = str(payload.get("language", "ru"))
    if len(claimed.batch) > 1 or payload.get("template") == "alert.digest":
        return messages.render_digest(language, claimed.batch, settings.public_url)
    return messages.render(
        str(payload["template"]), language, dict(payload.get("params", {})), settings.public_url
    )


def send_email(settings: Settings, claimed: Claimed) -> None:
    """Over ``QONYS_SMTP_URL``: STARTTLS whenever the server offers it, then AUTH when
    the URL has a user; ``smtps://`` speaks TLS from the start."""
    if not settings.smtp_url:
        raise NotConfigured("QONYS_SMTP_URL is not set")
    url = urlsplit(settings.smtp_url)
    text = _rendered(settings, claimed)
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = claimed.recipient
    mail["Subject"] = text.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{claimed.message_id}@qonys>"
    mail.set_content(text.body)
    attachment = claimed.payload.get("attachment")
    if attachment:
        mail.add_attachment(
            base64.b64decode(attachment["data_b64"]),
            maintype="application",
            subtype="pdf",
            filename=attachment["filename"],
        )
    host, timeout = url.hostname or "127.0.0.1", settings.outbox_timeout_s
    context = ssl.create_default_context()
    if url.scheme == "smtps":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            host, url.port or 465, timeout=timeout, context=context
        )
    else:
        server = smtplib.SMTP(host, url.port or 25, timeout=timeout)
    with server:
        server.ehlo()
        if url.scheme == "smtp" and server.has_extn("starttls"):
            server.starttls(context=context)
            server.ehlo()
        if url.username:
            server.login(unquote(url.username), unquote(url.password or ""))
        server.send_message(mail)


def send_sms(settings: Settings, claimed: Claimed) -> None:
    """POST the gateway's body template with ``$phone``, ``$text`` and ``$message_id``:
    JSON-escaped when the template is JSON, form-encoded otherwise."""
    if not settings.sms_gateway_url:
        raise NotConfigured("QONYS_SMS_GATEWAY_URL is not set")
    text = _rendered(settings, claimed).sms
    template = settings.sms_body_template
    as_json = template.lstrip().startswith("{")

    def escape(value: str) -> str:
        return json.dumps(value)[1:-1] if as_json else quote_plus(value)

    body = string.Template(template).substitute(
        phone=escape(claimed.recipient), text=escape(text), message_id=escape(claimed.message_id)
    )
    headers = {
        "Content-Type": "application/json" if as_json else "application/x-www-form-urlencoded",
        "Idempotency-Key": claimed.message_id,
    }
    if settings.sms_gateway_auth:
        headers["Authorization"] = settings.sms_gateway_auth
    resp = requests.post(
        settings.sms_gateway_url,
        data=body.encode("utf-8"),
        headers=headers,
        timeout=settings.outbox_timeout_s,
    )
    resp.raise_for_status()


def send_webhook(settings: Settings, claimed: Claimed) -> None:
    """POST the event signed per Standard Webhooks; any answer but 2xx is a failure."""
    assert claimed.secret is not None
    body = json.dumps(claimed.payload, ensure_ascii=False).encode("utf-8")
    at = clock.now()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": claimed.message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(claimed.secret).sign(claimed.message_id, at, body),
    }
    resp = requests.post(
        claimed.recipient,
        data=body,
        headers=headers,
        timeout=settings.outbox_timeout_s,
        allow_redirects=False,
    )
    if not 200 <= resp.status_code < 300:
        raise RuntimeError(f"the receiver answered {resp.status_code}")


# How long a push service keeps a message for an offline browser (an SOS is stale later).
PUSH_TTL_S = 12 * 3600


def push_payload(settings: Settings, claimed: Claimed) -> dict[str, Any]:
    """What the officer's service worker receives: the kind, the region's name, a title,
    a line and the link to sign in — no person, no coordinates, no IIN."""
    text = _rendered(settings, claimed)
    params = dict(claimed.payload.get("params", {}))
    digest = len(claimed.batch) > 1 or claimed.payload.get("template") == "alert.digest"
    return {
        "kind": "digest" if digest else str(params.get("kind", claimed.event_type)),
        "region": claimed.payload.get("region"),
        "title": text.subject,
        "body": text.lead,
        "url": text.link,
        "tag": claimed.message_id,
    }


def send_push(settings: Settings, claimed: Claimed) -> None:
    """Encrypt (aes128gcm) and POST to the browser's push service with a VAPID JWT; a
    404 or 410 means the subscription is gone (:class:`Gone`), anything else not 2xx is
    retried. ``Topic`` is the message id: a retry replaces an undelivered copy."""
    assert claimed.push_keys is not None
    data = push_payload(settings, claimed)
    urgent = data["kind"] in URGENT_ALERT_KINDS
    try:
        webpush(
            {"endpoint": claimed.recipient, "keys": dict(claimed.push_keys)},
            json.dumps(data, ensure_ascii=False),
            vapid_private_key=push.vapid(settings),
            vapid_claims={"sub": f"mailto:{settings.push_contact or settings.mail_from}"},
            content_encoding="aes128gcm",
            ttl=PUSH_TTL_S,
            timeout=settings.outbox_timeout_s,
            headers={
                "Urgency": "high" if urgent else "normal",
                "Topic": claimed.message_id.replace("-", ""),
            },
        )
    except WebPushException as exc:
        code = exc.response.status_code if exc.response is not None else None
        if code in (404, 410):
            raise Gone(f"the push service answered {code}") from exc
        raise RuntimeError(f"the push service answered {code}") from exc


SENDERS: dict[str, Sender] = {
    "email": send_email,
    "sms": send_sms,
    "webhook": send_webhook,
    "push": send_push,
}
