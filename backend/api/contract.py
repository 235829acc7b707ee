"""The OpenAPI document says what the API really answers: every error is a problem.

APIFlask documents its own error shapes (``HTTPError``, ``ValidationError``) as
``application/json`` and only a few status codes per route. Every route here can also
answer 400, 401, 403, 404, 409, 413, 422, 428, 429, 500 and 503 — always as
``application/problem+json`` (RFC 9457, see :mod:`backend.api.problems`). This rewrites
the spec once, when it is built, so that clients and contract tests see the truth.
"""

from __future__ import annotations

from typing import Any

from backend.errors import PROBLEMS

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "description": "/api/problems#<code>: what it means"},
        "title": {"type": "string", "description": "the kind of problem, in words"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "this occurrence, in words"},
        "code": {"type": "string", "enum": sorted(PROBLEMS)},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "request_id": {"type": "string", "format": "uuid"},
    },
}
ERROR_STATUSES = ("400", "401", "403", "404", "409", "413", "422", "428", "429", "500", "503")
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
VERBS = ("get", "post", "put", "patch", "delete")


def problems_everywhere(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPError", "ValidationError"):
        schemas.pop(name, None)
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in spec.get("paths", {}).items():
        for verb, operation in item.items():
            if verb not in VERBS:
                continue
            responses = operation.setdefault("responses", {})
            if path.startswith("/maps/"):
                # A page (the stored maps): HTML for people; a browser without a session
                # is sent to sign in.
                responses["200"] = {
                    "description": "The page",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
                responses["302"] = {"description": "A browser without a session: to /login"}
            for status in ERROR_STATUSES:
                description = responses.get(status, {}).get("description") or next(
                    (title for code, (s, title, _a) in PROBLEMS.items() if str(s) == status),
                    "Error",
                )
                entry: dict[str, Any] = {"description": description, "content": content}
                if status in ("429", "503"):
                    entry["headers"] = RETRY_AFTER
                responses[status] = entry
    return spec


def spec_processor(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """APIFlask's hook (it also passes YAML text, which this app never asks for)."""
    return problems_everywhere(spec) if isinstance(spec, dict) else spec
