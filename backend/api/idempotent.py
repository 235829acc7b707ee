"""The ``Idempotency-Key`` decorator for writes that clients may retry."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, request

from backend.api.context import database, principal
from backend.services.access.idempotency import request_hash, run_once


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Place between ``auth_required`` and ``input``: replays the first 2xx response."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)

        def write() -> tuple[dict[str, Any], int]:
            rv = view(*args, **kwargs)
            resp, status = (rv[0], rv[1]) if isinstance(rv, tuple) else (rv, 200)
            if isinstance(resp, Response):
                status = resp.status_code if not isinstance(rv, tuple) else status
                return resp.get_json(), status
            return resp, status

        fingerprint = request_hash(request.method, request.path, request.get_data())
        who = principal()
        # Keyed by who asks: every browser session has token id 0, so sessions by account.
        caller = f"user:{who.user_id}" if who.user_id is not None else f"token:{who.token_id}"
        route = f"{request.method} {request.endpoint}"[:200]
        body, status = run_once(database(), caller, route, key, fingerprint, write)
        return body, status, {"Idempotency-Key": key}

    return wrapper
