"""The OpenAPI document says what the API really answers: every error is a problem.

APIFlask documents its own error shapes (``HTTPError``, ``ValidationError``) as
``application/json`` and only a few status codes per route. Every route here can also
answer 400, 401, 403, 404, 409, 413, 422, 428, 429, 500 and 503 — always as
``application/problem+json`` (RFC 9457, see :mod:`backend.api.problems`). This rewrites
the spec once, when it is built, so that clients and contract tests see the truth.
"""

from __future__ import annotations

import re
from typing import Any

from backend.errors import PROBLEMS
from backend.schemas.outbox import webhook_docs

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


# OpenAPI links: what a client does next with what an operation created (its id in the
# answer), so that clients and the stateful contract run can follow them. One link per
# target and status (schemathesis 3 names its stateful rules by target and status, so a
# second link into the same target would silently replace the first).
# (source path, verb, status, target path, target verb, {parameter: runtime expression})
_PERSON = {"person_id": "$response.body#/id"}
_PERMIT = {"permit_id": "$response.body#/id"}
_TOKEN = {"token_id": "$response.body#/token_id"}
_SAME_PATH = {"year": "$request.path.year", "region_kato": "$request.path.region_kato"}
_QUOTA = "/api/v1/quotas/{year}/{region_kato}"
_LIST = "/api/v1/settlement-lists/{year}/{region_kato}"
LINKS: tuple[tuple[str, str, str, str, str, dict[str, str]], ...] = (
    ("/api/v1/persons", "post", "201", "/api/v1/persons/{person_id}", "get", _PERSON),
    ("/api/v1/persons", "post", "201", "/api/v1/persons/{person_id}/last-position", "get", _PERSON),
    ("/api/v1/persons", "post", "201", "/api/v1/preselection/{person_id}", "get", _PERSON),
    ("/api/v1/persons", "post", "201", "/api/v1/kandas/{person_id}/obligation", "get", _PERSON),
    ("/api/v1/persons", "post", "201", "/api/v1/kandas/{person_id}/general-terms", "post", _PERSON),
    ("/api/v1/permits", "post", "201", "/api/v1/permits/{permit_id}/extensions", "post", _PERMIT),
    ("/api/v1/permits", "post", "201", "/api/v1/permits/{permit_id}/revocation", "post", _PERMIT),
    (
        "/api/v1/permits",
        "post",
        "201",
        "/api/v1/permits/{permit_id}/household-employer",
        "put",
        _PERMIT,
    ),
    ("/api/v1/devices", "post", "201", "/api/v1/devices/{token_id}/refusals", "get", _TOKEN),
    ("/api/v1/devices", "post", "201", "/api/v1/tokens/{token_id}", "delete", _TOKEN),
    (
        "/api/v1/employers",
        "post",
        "201",
        "/api/v1/employers/{bin_}/permits",
        "get",
        {"bin_": "$response.body#/bin"},
    ),
    (
        "/api/v1/maps/monitoring",
        "post",
        "202",
        "/api/v1/jobs/{job_id}",
        "get",
        {"job_id": "$response.body#/job_id"},
    ),
    (_QUOTA, "put", "200", _QUOTA, "get", _SAME_PATH),
    (_LIST, "put", "200", _LIST, "get", _SAME_PATH),
)


def links_declared(spec: dict[str, Any]) -> dict[str, Any]:
    paths = spec.get("paths", {})
    for source, verb, status, target, target_verb, parameters in LINKS:
        operation = paths.get(source, {}).get(verb)
        if operation is None or target_verb not in paths.get(target, {}):
            continue  # a route that is not served here
        response = operation.get("responses", {}).get(status)
        if response is None:
            continue
        name = re.sub(
            r"[^A-Za-z0-9._-]",
            "",
            f"{target_verb}{target.removeprefix('/api/v1')}".replace("/", "_"),
        )
        response.setdefault("links", {})[name] = {
            "operationRef": "#/paths/"
            + target.replace("~", "~0").replace("/", "~1")
            + "/"
            + target_verb,
            "parameters": parameters,
        }
    return spec


def spec_processor(spec: dict[Any, Any] | str) -> dict[Any, Any] | str:
    """APIFlask's hook (it also passes YAML text, which this app never asks for)."""
    if not isinstance(spec, dict):
        return spec
    spec["x-webhooks"] = webhook_docs()  # the events other systems subscribe to (issue 26)
    return links_declared(problems_everywhere(spec))
