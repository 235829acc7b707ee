"""A phone's request, answered the same way through Flask or beside it.

:func:`answer_phone` is the whole of a phone app's route: read the request as the app
sends it, check its device token (unknown or revoked: 401), count the device against
its limit, then store. It needs no Flask request: the route in ``api/traces.py`` calls
it with Flask's, and :class:`PhoneLane`, WSGI middleware in front of Flask, calls it
with werkzeug's own reading of the same request (the same query, form, headers and
body parsing, without Flask's contexts, hooks and dispatch).

Phones are the API's busiest callers, one point a request, and issue 27 asks that their
requests cost no more than ``GET /health``. Served, every layer a request crosses runs
from cold caches, so its cost is the code's reach more than its own time (see
``api/check_lane.py``). The lane takes a phone app's path and method when the request
is plain: no cookie, no chunked body, a body of at most 16 KiB. An unknown device (raised
before anything is written) goes to Flask untouched, which answers 401 and counts the
failure against the address as it always has; an outage or a fault is answered once by
Flask's error handlers (``api/lanes.py``), never run a second time, so no refusal or
alert is written twice and no device counted twice. A HEAD, which Flask adds to a GET
route, is Flask's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import redis
from werkzeug.wrappers import Request

from backend import outages
from backend.api.lanes import Lane, read_plain_body, unknown_tokens, verify_once
from backend.api.limits import wait_on
from backend.errors import Unauthorized
from backend.jobs import alerts as alert_jobs
from backend.redaction import redact
from backend.services.access.tokens import Principal
from backend.services.tracking import devices, phone_apps, phone_ingest

MAX_BODY = 16 * 1024


def answer_phone(
    extensions: dict[str, Any],
    app: phone_apps.PhoneApp,
    incoming: phone_apps.PhoneRequest,
    full_path: str,
    request_id: str,
    received: datetime,
    unknown: set[str],
) -> tuple[int, str, str]:
    """One phone app's request: the answer (status, body, content type) a known device
    gets; raises ``Unauthorized`` for an unknown one, whose secret joins ``unknown``
    (the request's secrets already found unknown: ``lanes.unknown_tokens``). HEAD is
    answered, never stored."""
    database, config = extensions["qonys.db"], extensions["qonys.settings"]
    reading = app.read(incoming)
    who = _device(database, reading.secret, unknown)
    if incoming.method == "HEAD":
        return app.answer
    key = None
    if reading.needs_key:
        with database.transaction() as session:
            key = devices.owntracks_key_of(session, who.token_id)
    parsed = reading.parse(who.device_person, received, key)
    if not parsed:
        return app.answer

    def raw() -> str:
        return _raw_excerpt(incoming, full_path, reading.secret, config.refusal_raw_max_chars)

    leases, limit = extensions["qonys.rate_leases"], config.device_rate_limit
    if wait_on(leases, limit, "device", str(who.token_id)) is not None:
        reason = f"over the device rate limit ({config.device_rate_limit})"
        with database.autocommit.connect() as conn:
            phone_ingest.record_refusals(
                conn, who, reading.client, [reason], raw(), config.refusal_raw_max_chars
            )
        return app.answer
    outcome = phone_ingest.ingest_phone(
        database, who, parsed, reading.client, config, request_id, raw
    )
    if outcome.stored and alert_jobs.PHONE_KICKS.due():
        kick_alerts(extensions)
    return app.answer


def _device(database: Any, secret: str | None, unknown: set[str]) -> Principal:
    """The device principal for a token sent outside the Authorization header; a secret
    the lane found unknown is not looked up again when Flask answers its 401."""
    who = verify_once(unknown, database.autocommit.connect, secret) if secret else None
    if who is None or who.role != "device" or who.person_id is None:
        raise Unauthorized("unknown device")
    return who


def _raw_excerpt(
    incoming: phone_apps.PhoneRequest, full_path: str, secret: str | None, max_chars: int
) -> str:
    """What was sent, for the refusal record, with the token cut out."""
    body = incoming.body[: max_chars * 2]
    # Decoded before matching: ``?i%64=qny%5F…`` is the token too (backend/redaction.py).
    line = redact(f"{incoming.method} {full_path}")
    text_ = f"{line}\n{redact(body.decode('utf-8', 'replace'))}"
    return text_.replace(secret, "***") if secret else text_


def kick_alerts(extensions: dict[str, Any]) -> None:
    """Ask for the alert evaluation of what was stored (Redis down: the sweep will).
    Skipped for a moment after Redis failed: a Redis that hangs would cost the request
    whose turn it is to kick the whole socket timeout, every second."""
    if outages.REDIS.resting():
        return
    try:
        alert_jobs.kick(extensions["qonys.redis"], extensions["qonys.queue"])
    except redis.RedisError as exc:  # the sweep evaluates what a missed kick leaves behind
        outages.REDIS.failed(exc)
        return
    outages.REDIS.ok()


def phone_request(request: Request) -> phone_apps.PhoneRequest:
    """A request as its phone app's parser reads it (Flask's or werkzeug's alike)."""
    return phone_apps.PhoneRequest(
        method=request.method,
        mimetype=request.mimetype,
        args=request.args.to_dict(),
        form=request.form.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(cache=True),
    )


class PhoneLane(Lane):
    """WSGI middleware: plain phone requests answered here, the rest by ``flask_app``."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], flask_app: Any) -> None:
        super().__init__(wsgi_app, flask_app)
        self.routes = {app.path: app for app in phone_apps.APPS}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        app = self.routes.get(environ.get("PATH_INFO", ""))
        if self.enabled and app is not None and environ.get("REQUEST_METHOD") in app.methods:
            answer = self._try(app, environ, start_response)
            if answer is not None:
                return answer
        return self.next(environ, start_response)

    def _try(
        self, app: phone_apps.PhoneApp, environ: dict[str, Any], start_response: Any
    ) -> Iterable[bytes] | None:
        received = datetime.now(UTC)
        if read_plain_body(environ, MAX_BODY) is None:
            return None
        request = Request(environ)
        request_id = str(uuid.uuid4())
        try:
            status, text, mimetype = answer_phone(
                self.app.extensions,
                app,
                phone_request(request),
                request.full_path,
                request_id,
                received,
                unknown_tokens(environ),
            )
        except Unauthorized:  # an unknown device, before any write: Flask's 401
            environ["wsgi.input"].seek(0)
            return None
        except Exception as error:  # an outage or a fault, perhaps after a write: once
            return self.error(environ, start_response, error, request_id)
        return self.done_text(environ, start_response, status, text, mimetype, request_id)
