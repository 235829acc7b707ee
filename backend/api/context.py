"""Per-request context: the caller, the database, the request id and stated purpose."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from apiflask import HTTPTokenAuth
from flask import current_app, g, request
from sqlalchemy.orm import Session

from backend.db import Database
from backend.errors import Forbidden
from backend.services.tokens import Principal, verify_cached

auth = HTTPTokenAuth(scheme="Bearer", description="Token from `qonys token create`")

_PURPOSE_RE = re.compile(r"^[\w\-./:# ]{3,200}$")


def verify_secret(secret: str) -> Principal | None:
    """A presented token (bearer, OsmAnd ``id`` or Basic password): cached, else one lookup."""
    return verify_cached(database().autocommit.connect, secret)


@auth.verify_token
def _verify(secret: str) -> Principal | None:
    return verify_secret(secret)


@auth.get_user_roles
def _roles(principal: Principal) -> list[str]:
    return [principal.role]


def database() -> Database:
    return current_app.extensions["qonys.db"]


@contextmanager
def transaction() -> Iterator[Session]:
    with database().transaction() as session:
        yield session


def principal() -> Principal:
    user = auth.current_user
    assert isinstance(user, Principal)
    return user


def request_id() -> str:
    return g.request_id


def assign_request_id() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    try:
        g.request_id = str(uuid.UUID(incoming))
    except ValueError:
        g.request_id = str(uuid.uuid4())


def purpose(required_for: tuple[str, ...] = ("analyst",)) -> str | None:
    """The ``X-Purpose`` case reference; mandatory for the roles given."""
    value = request.headers.get("X-Purpose", "").strip()
    if not value:
        if principal().role in required_for:
            raise Forbidden("reading a person's data needs an X-Purpose header (a case reference)")
        return None
    if not _PURPOSE_RE.match(value):
        raise Forbidden("X-Purpose must be 3-200 letters, digits or -./:#")
    return value
