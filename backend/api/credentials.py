"""Verifiable credentials: the person's signed copy, the public keys, the status lists.

The keys and the status lists are public (a checker has no account); each online status
lookup is counted per list and day, and nothing about who asked is kept.
"""

from __future__ import annotations

import logging
from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, url_for
from sqlalchemy import select

from backend import clock
from backend import schemas as s
from backend.api.context import (
    audit_context,
    auth,
    principal,
    record_access,
    settings,
    transaction,
)
from backend.errors import NotFound
from backend.models import Region
from backend.services.credentials import credential_keys, credentials, status_lists
from backend.services.register import offline_checks

log = logging.getLogger("qonys.credentials")
bp = APIBlueprint("credentials", __name__, tag="Credentials")
ROLES = ["admin", "employer", "device"]
# Counted per list and day: how often the lists are fetched online, never by whom.
LOOKUPS_KEY = "qonys:status-lookups:{name}:{day}"


def _issued(kind: str, doc_id: int) -> tuple[credentials.Document, str]:
    """The document's credential, signed now; every issue is audited."""
    with transaction() as session:
        doc = credentials.find(session, kind, doc_id, principal())
        record_access(session, f"{kind}.credential", [doc.person_id])
    return doc, credentials.sign(settings(), doc)


def _answer(kind: str, doc_id: int) -> dict[str, Any]:
    doc, payload = _issued(kind, doc_id)
    name = "permits" if kind == "permit" else "registrations"
    return {
        "format": credentials.FORMAT,
        "payload": payload,
        "qr_url": url_for(f"credentials.{kind}_qr", doc_id=doc_id, ext="png"),
        "pdf_url": url_for(f"credentials.{kind}_pdf", doc_id=doc_id),
        "keys_url": url_for("credentials.jwks"),
        "status_list_url": url_for("credentials.status_list", name=name),
        "status_index": doc.id,
    }


def _qr(kind: str, doc_id: int, ext: str) -> Response:
    if ext not in ("png", "svg"):
        raise NotFound(f"no QR code as .{ext}: ask for .png or .svg")
    _doc, payload = _issued(kind, doc_id)
    if ext == "png":
        return Response(credentials.qr_png(payload), mimetype="image/png")
    return Response(credentials.qr_svg(payload), mimetype="image/svg+xml")


def _pdf(kind: str, doc_id: int) -> Response:
    doc, payload = _issued(kind, doc_id)
    with transaction() as session:
        names = {
            kato: (ru, kk)
            for kato, ru, kk in session.execute(select(Region.kato, Region.name_ru, Region.name_kk))
        }
    resp = Response(credentials.pdf(doc, payload, names), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="{kind}-{doc.number}.pdf"'
    return resp


_DOC = (
    "The answer's `payload` is exactly the text in the QR code: a compact JWS (Ed25519) "
    "whose key is in `keys_url` and whose status is entry `status_index` of "
    "`status_list_url`. Administrators; an employer for its own permits; a device token "
    "for its own person. Every issue is audited."
)


@bp.get("/api/v1/permits/<id:doc_id>/credential")
@bp.auth_required(auth, roles=ROLES)
@bp.output(s.CredentialOut)
@bp.doc(summary="The permit as a verifiable credential (signed QR payload)", description=_DOC)
def permit_credential(doc_id: int) -> Any:
    return _answer("permit", doc_id)


@bp.get("/api/v1/registrations/<id:doc_id>/credential")
@bp.auth_required(auth, roles=ROLES)
@bp.output(s.CredentialOut)
@bp.doc(summary="The registration as a verifiable credential", description=_DOC)
def registration_credential(doc_id: int) -> Any:
    return _answer("registration", doc_id)


@bp.get("/api/v1/permits/<id:doc_id>/credential.<ext>")
@bp.auth_required(auth, roles=ROLES)
@bp.doc(summary="The permit's QR code (.png or .svg)")
def permit_qr(doc_id: int, ext: str) -> Any:
    return _qr("permit", doc_id, ext)


@bp.get("/api/v1/registrations/<id:doc_id>/credential.<ext>")
@bp.auth_required(auth, roles=ROLES)
@bp.doc(summary="The registration's QR code (.png or .svg)")
def registration_qr(doc_id: int, ext: str) -> Any:
    return _qr("registration", doc_id, ext)


@bp.get("/api/v1/permits/<id:doc_id>/credential/pdf")
@bp.auth_required(auth, roles=ROLES)
@bp.doc(summary="The permit's A6 sheet to print (Russian and Kazakh)")
def permit_pdf(doc_id: int) -> Any:
    return _pdf("permit", doc_id)


@bp.get("/api/v1/registrations/<id:doc_id>/credential/pdf")
@bp.auth_required(auth, roles=ROLES)
@bp.doc(summary="The registration's A6 sheet to print (Russian and Kazakh)")
def registration_pdf(doc_id: int) -> Any:
    return _pdf("registration", doc_id)


@bp.get("/.well-known/jwks.json")
@bp.doc(summary="The credential issuer's public keys (JWKS), retired ones until they expire")
def jwks() -> Any:
    resp = current_app.json.response(credential_keys.public_jwks(settings()))
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.get("/api/v1/status-lists/<name>")
@bp.doc(
    summary="A signed status list (IETF Token Status List, statuslist+jwt)",
    description="2 bits per document: 0 valid, 1 revoked, 3 ended early (a permit "
    "terminated, a registration ended). Republished within a minute of a change.",
)
def status_list(name: str) -> Any:
    if name not in status_lists.NAMES:
        raise NotFound(f"status list {name} not found")
    with transaction() as session:
        try:
            found = status_lists.stored(session, name)
        except NotFound:  # a fresh install, before the job's first run
            status_lists.publish(session, settings())
            found = status_lists.stored(session, name)
    redis = current_app.extensions["qonys.redis"]
    try:
        key = LOOKUPS_KEY.format(name=name, day=clock.today().isoformat())
        redis.incr(key)
        redis.expire(key, 400 * 86400)
    except Exception:  # a count lost to a Redis outage never fails a lookup
        log.warning("status lookup not counted: Redis did not answer", exc_info=True)
    resp = Response(found.token, mimetype="application/statuslist+jwt")
    resp.headers["Cache-Control"] = f"public, max-age={status_lists.TTL_S}"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.post("/api/v1/checks/outbox")
@bp.auth_required(auth, roles=["officer"])
@bp.input(s.OutboxItemIn, arg_name="item")
@bp.output(s.OutboxItemOut)
@bp.doc(
    summary="Sync one check the officer's phone queued offline; idempotent by its key",
    description="The check runs as `POST /checks` would, once per `key`; the phone's time "
    "and offline verdict are stored beside the server's. A repeat answers the first run "
    "with `duplicate: true`. With a browser session the CSRF token goes in `X-CSRFToken`.",
)
def sync_outbox_item(item: dict[str, Any]) -> Any:
    with transaction() as session:
        return offline_checks.sync(session, audit_context(), item)
