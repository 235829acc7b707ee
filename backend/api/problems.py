"""Every 4xx/5xx answer as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import redis
from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import (
    Response,
    g,
    has_request_context,
    json,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import exc as sqlalchemy_exc
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as ResponseBase

from backend import outages
from backend.api.context import record_refusal
from backend.api.limits import TOO_MANY, limiter, unauthenticated_failure
from backend.db import count_failure
from backend.errors import (
    PROBLEMS,
    STATUS_CODES,
    FieldError,
    OutOfScope,
    QonysError,
    flatten_messages,
)

log = logging.getLogger("qonys.api")

PROBLEM_MIME = "application/problem+json"
RETRY_AFTER_S = 5  # what a client is told to wait during a database or Redis outage


PROBLEM_DOCS = "/api/problems"


def problem(
    status: int,
    detail: str,
    code: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """RFC 9457: ``type`` names the kind of problem (a URI documented at /api/problems),
    ``title`` says it in words, ``code`` carries it for machines.

    A person in a browser gets the same answer as a page in their language with a way
    back (:func:`_error_page`); API clients always get the JSON."""
    code = code if code in PROBLEMS else STATUS_CODES.get(status, "internal")
    if status in PAGE_STATUSES and has_request_context() and _wants_a_page():
        page = _error_page(status, headers)
        if page is not None:
            return page
    body: dict[str, Any] = {
        "type": f"{PROBLEM_DOCS}#{code}",
        "title": PROBLEMS[code][1] if code in PROBLEMS else HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    if getattr(g, "request_id", None):
        body["request_id"] = g.request_id
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIME)
    for key, value in (headers or {}).items():
        if key.lower() != "content-type":
            resp.headers[key] = value
    return resp


_DETAILS = {
    400: "malformed request: the body is not valid JSON or not what this endpoint reads",
    401: "missing or invalid bearer token",
    403: "this token's role may not do that",
    404: "no such resource",
    405: "method not allowed on this resource",
    413: "request body too large",
    429: TOO_MANY,
}


# Answers a browser gets as a page; others (400 CSRF, 409, 422) belong beside a form field.
PAGE_STATUSES = (401, 403, 404, 405, 500, 503)


def _error_page(status: int, headers: Mapping[str, str] | None) -> Response | None:
    """The error as an HTML page (templates/web/error.html), or None when the page itself
    cannot be drawn (the database behind the signed-in account is down): then the JSON."""
    try:
        html = render_template("web/error.html", status=status)
    except Exception:
        log.warning("error page for %s not drawn; answering problem+json", status)
        return None
    resp = Response(html, status=status, mimetype="text/html")
    for key, value in (headers or {}).items():
        if key.lower() != "content-type":
            resp.headers[key] = value
    return resp


def _wants_a_page() -> bool:
    """A browser asking for a page (not the API, not a phone, no bearer token)."""
    return (
        not request.path.startswith("/api/")
        and "Authorization" not in request.headers
        # Browsers name text/html; a client that takes anything (*/*) is a script.
        and "text/html" in request.headers.get("Accept", "")
        and request.accept_mimetypes.accept_html
        and request.accept_mimetypes["text/html"] >= request.accept_mimetypes["application/json"]
    )


def _retry_after_limit() -> dict[str, str]:
    """Seconds until the exceeded limit's window resets (the limiter adds no headers:
    reading the window for every answer cost a Redis round trip per request)."""
    current = limiter.current_limit
    wait = int(current.reset_at - time.time()) if current else 60
    return {"Retry-After": str(max(wait, 1))}


def _refusal(status: int) -> Response | None:
    """Audit a refused request (issue 12). Failed authentication counts per address: the
    first of a minute is audited row by row, the rest by the minute's count
    (:mod:`backend.services.access.auth_failures`); over the address's budget the answer is 429."""
    if status == 401:
        first, wait = unauthenticated_failure()
        if wait is not None:
            return problem(429, _DETAILS[429], headers={"Retry-After": str(wait)})
        if first:
            record_refusal("auth_failed")
    elif status == 403:
        record_refusal("refused")
    return None


def install(app: APIFlask) -> None:
    @app.get(PROBLEM_DOCS)
    @app.doc(hide=True)
    def _problem_types() -> str:
        """What each problem ``type`` means (the URIs the problems point at)."""
        return render_template("web/problems.html", problems=PROBLEMS)

    @app.error_processor
    def _http_error(error: HTTPError) -> ResponseBase:
        if error.status_code == 401 and _wants_a_page():
            # A person in a browser, not a script: to the sign-in page, and back after.
            return redirect(url_for("web_auth.login", next=request.full_path.rstrip("?")))
        over = _refusal(error.status_code)
        if over is not None:
            return over
        errors = flatten_messages(error.detail) if error.detail else []
        if error.status_code == 422 and errors:
            detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        elif error.status_code == 400 and errors:
            detail = "malformed request: " + "; ".join(e.message for e in errors)
        else:
            detail = _DETAILS.get(error.status_code) or error.message or ""
        headers = dict(Headers(error.headers).items()) if error.headers else None
        if error.status_code == 429 and not (headers and "Retry-After" in headers):
            headers = {**(headers or {}), **_retry_after_limit()}
        return problem(error.status_code, detail, errors=errors, headers=headers)

    @app.errorhandler(QonysError)
    def _domain_error(error: QonysError) -> Response:
        over = _refusal(error.status)
        if over is not None:
            return over
        if isinstance(error, OutOfScope):
            record_refusal("out_of_scope", [error.person_id])
        return problem(error.status, error.detail, error.code, error.errors, headers=error.headers)

    @app.errorhandler(sqlalchemy_exc.OperationalError)
    @app.errorhandler(sqlalchemy_exc.InterfaceError)
    @app.errorhandler(sqlalchemy_exc.TimeoutError)  # every pooled connection waiting on it
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _unavailable(error: Exception) -> Response:
        # A database or Redis that cannot be reached is an outage, not a bug: the client
        # may retry. A transaction rolled back; an autocommit statement in flight may
        # still have been stored (a frozen database given it when it returns). A resent
        # point is not stored twice (person and time), nor a write sent with an
        # Idempotency-Key; a resent officer check is a second check.
        # One log line per outage and a count, not a line per request (backend/outages.py).
        # Work held up (a lock, a deadlock lost, a statement past the server's bound) is
        # no outage: the client retries all the same.
        if isinstance(error, redis.RedisError):
            outages.REDIS.failed(error)
        elif count_failure(error) is outages.CONTENTION:
            return problem(
                503,
                "the database was held up by other work (data locked by another write, a "
                "deadlock lost, a statement past its time); the request did not complete; "
                "retry after the seconds in Retry-After",
                "busy",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        return problem(
            503,
            "a service Qonys depends on is unavailable; retry after the seconds in Retry-After",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.after_request
    def _database_back(resp: ResponseBase) -> ResponseBase:
        # An answer below 500 that used the database: an outage there is over.
        outages.database_answered(resp.status_code)
        return resp

    @app.errorhandler(RecursionError)
    def _too_deep(error: RecursionError) -> Response:
        # JSON nested thousands deep exhausts the parser: the client's body, not our bug.
        if request.is_json or request.content_length:
            return problem(400, "malformed request: the JSON body is nested too deeply")
        log.exception("unhandled error")
        return problem(500, "an internal error occurred; it has been logged")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            code = error.code or 500
            headers = _retry_after_limit() if code == 429 else None
            return problem(code, _DETAILS.get(code, error.description or ""), headers=headers)
        log.exception("unhandled error")
        return problem(500, "an internal error occurred; it has been logged")
