"""Per-request context: the caller, the database, the request id and stated purpose."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from apiflask import HTTPTokenAuth
from flask import current_app, g, has_request_context, request, session
from flask_login import current_user
from sqlalchemy.orm import Session

from backend.api.lanes import bearer_token, unknown_tokens, verify_once
from backend.api.lanes import client_request_id as sent_request_id
from backend.db import Database, count_failure
from backend.errors import Forbidden
from backend.services.access import audit
from backend.services.access.tokens import Principal
from backend.settings import Settings


class TokenOrSessionAuth(HTTPTokenAuth):
    """Bearer tokens for scripts and phones; without one, the browser session's account."""

    def authenticate(self, auth: Any, stored_password: Any) -> Any:
        # Flask-HTTPAuth only asks when a token was sent; a browser sends a cookie instead.
        return _verify(getattr(auth, "token", None) or "")


auth = TokenOrSessionAuth(
    scheme="Bearer", description="Token from `qonys token create`, or a signed-in session"
)

log = logging.getLogger("qonys.api")

_PURPOSE_RE = re.compile(r"^[\w\-./:# ]{3,200}$")


def verify_secret(secret: str) -> Principal | None:
    """A presented token (bearer, OsmAnd ``id`` or Basic password): cached, else one
    lookup, none when a lane beside Flask already found it unknown for this request."""
    unknown = unknown_tokens(request.environ) if has_request_context() else set()
    return verify_once(unknown, database().autocommit.connect, secret)


def session_principal() -> Principal | None:
    """The staff account signed in with this request's browser session, if any."""
    user: Any = current_user
    if user is not None and user.is_authenticated:
        principal: Principal = user.principal
        return principal
    return None


def _verify(secret: str) -> Principal | None:
    """A bearer token, else the browser session's account: the same roles either way."""
    return verify_secret(secret) if secret else session_principal()


def bearer_secret() -> str:
    """The token of an ``Authorization: Bearer`` header, read as Flask-HTTPAuth reads it
    (werkzeug's parsing: the scheme in any case, then a space); "" for any other or no
    header. The lanes beside Flask read it the same way (``api/lanes.bearer_token``)."""
    return bearer_token(request.environ) or ""


def bearer_principal() -> Principal | None:
    """The verified token this request presents, once per request (None without one)."""
    if "bearer_principal" not in g:
        secret = bearer_secret()
        g.bearer_principal = verify_secret(secret) if secret else None
    found: Principal | None = g.bearer_principal
    return found


def _roles(principal: Principal) -> list[str]:
    return [principal.role]


auth.verify_token(_verify)
auth.get_user_roles(_roles)


def database() -> Database:
    db: Database = current_app.extensions["qonys.db"]
    return db


def settings() -> Settings:
    """The app's settings (read once at start-up)."""
    found: Settings = current_app.extensions["qonys.settings"]
    return found


@contextmanager
def transaction() -> Iterator[Session]:
    with database().transaction() as session:
        yield session


def principal() -> Principal:
    """The caller: the API's authenticated token or session, else (pages) the session."""
    user = auth.current_user or session_principal()
    assert isinstance(user, Principal)
    return user


def acting_person() -> str:
    """The person behind this request (:attr:`Principal.person`): the account a session
    signed in as, or the owner of the token. Separation-of-duties checks compare this."""
    return principal().person


def request_id() -> str:
    rid: str = g.request_id
    return rid


def assign_request_id() -> None:
    """Every request gets the server's own id; one a client sent is kept beside it (in the
    audit log's ``client_request_id``), never trusted as ours."""
    g.request_id = str(uuid.uuid4())
    g.client_request_id = sent_request_id(request.environ)


def client_request_id() -> str | None:
    found: str | None = g.get("client_request_id")
    return found


# Who must state a purpose to read a person's data: analysts, and administrators too —
# their wider rights are no reason to read without a case (issue 28, F16).
PURPOSE_ROLES = ("analyst", "admin")


def purpose(required_for: tuple[str, ...] = PURPOSE_ROLES) -> str | None:
    """The ``X-Purpose`` case reference; mandatory for the roles given.

    A browser session states it once on a page; it is kept for the session (until
    changed) and used when a request carries no header.
    """
    value = request.headers.get("X-Purpose", "").strip()
    if not value and principal().user_id is not None:
        value = str(session.get("purpose", ""))
    if not value:
        if principal().role in required_for:
            raise Forbidden("reading a person's data needs an X-Purpose header (a case reference)")
        return None
    if not _PURPOSE_RE.match(value):
        raise Forbidden("X-Purpose must be 3-200 letters, digits or -./:#")
    return value


def audit_context(why: str | None = None) -> audit.Context:
    """This request's caller, stated purpose and ids, for the audit rows it writes."""
    return audit.Context(principal(), why, request_id(), client_request_id())


def record_access(
    session: Session, action: str, subjects: Sequence[int | None], why: str | None = None
) -> None:
    """Audit what the caller of this request did to whom, and why, in its transaction."""
    audit.record(session, principal(), action, subjects, why, request_id(), client_request_id())


# Who a refused request came from when no token or session was accepted.
ANONYMOUS = Principal(token_id=0, role="anonymous", name="anonymous")


def record_refusal(kind: str, subjects: Sequence[int | None] | None = None) -> None:
    """Audit a refused request (``kind``: ``auth_failed``, ``refused``, ``out_of_scope``)
    in a transaction of its own: the request's own rolls back with the refusal.

    The action names the endpoint asked for; the subject is the person in the path when
    there is one. An audit row that cannot be written is logged, never raised: the
    refusal still goes out.
    """
    try:
        # A role refusal (403) comes before Flask-HTTPAuth records the caller: ask again.
        who = auth.current_user or bearer_principal() or session_principal() or ANONYMOUS
    except Exception:  # a database that cannot be asked: the refusal is still recorded
        who = ANONYMOUS
    if subjects is None:
        person = (request.view_args or {}).get("person_id")
        subjects = [person if isinstance(person, int) else None]
    declared = request.headers.get("X-Purpose", "").strip()[:200] or None
    action = f"{kind}:{request.endpoint or request.path}"[:64]
    try:
        with database().transaction() as session:
            audit.record(
                session, who, action, subjects, declared, request_id(), client_request_id()
            )
    except Exception as exc:
        if count_failure(exc) is not None:  # an outage, or work held up: in its spell
            return
        log.warning("could not audit the refused request %s", action, exc_info=True)
