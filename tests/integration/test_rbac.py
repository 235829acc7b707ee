"""Every endpoint × every role: who may call it (never 401/403) and who may not (403).

The table must list every route under /api/v1, so a new endpoint cannot slip in
without a decision about who may call it.
"""

from typing import Any

import pytest

from backend.services.tracking import phone_apps
from tests import factories as f

# Not in the Citus pass: authorization runs before any statement that differs
# between the engines.

ROLES = ("admin", "analyst", "officer", "employer", "device", "settlement_official")
BIN = "{bin}"
MATRIX: list[tuple[str, str, set[str]]] = [
    ("POST", "/api/v1/persons", {"admin"}),
    ("GET", "/api/v1/persons", {"admin", "analyst"}),
    ("GET", "/api/v1/persons/1", {"admin", "analyst"}),
    ("POST", "/api/v1/registrations", {"admin"}),
    ("GET", "/api/v1/registrations/near?lat=51.16&lon=71.47", {"officer"}),
    ("POST", "/api/v1/employers", {"admin"}),
    ("POST", "/api/v1/permits", {"admin"}),
    ("POST", "/api/v1/permits/1/extensions", {"admin"}),
    ("POST", "/api/v1/permits/1/revocation", {"admin"}),
    ("GET", f"/api/v1/employers/{BIN}/permits", {"admin", "employer"}),
    ("POST", f"/api/v1/employers/{BIN}/termination-notices", {"employer"}),
    ("POST", "/api/v1/checks", {"officer"}),
    ("POST", "/api/v1/imports/persons", {"admin"}),
    ("GET", "/api/v1/jobs/nope", {"admin", "analyst", "officer", "employer"}),
    ("POST", "/api/v1/traces", {"admin", "device"}),
    ("GET", "/api/v1/persons/1/last-position", {"analyst", "officer"}),
    (
        "GET",
        "/api/v1/persons/1/track?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        {"analyst"},
    ),
    (
        "GET",
        "/api/v1/persons/1/stays?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        {"analyst"},
    ),
    ("GET", "/api/v1/alerts", {"admin", "analyst", "officer"}),
    ("POST", "/api/v1/alerts/1/resolution", {"admin", "analyst", "officer"}),
    ("PUT", "/api/v1/quotas/2026/550000000", {"admin"}),
    ("GET", "/api/v1/quotas/2026/550000000", {"admin", "analyst"}),
    ("PUT", "/api/v1/settlement-lists/2026/550000000", {"admin"}),
    ("GET", "/api/v1/settlement-lists/2026/550000000", {"admin", "analyst"}),
    ("POST", "/api/v1/kandas/applications", {"admin"}),
    ("GET", "/api/v1/kandas/1/obligation", {"admin", "analyst", "settlement_official"}),
    ("POST", "/api/v1/kandas/1/obligation/decision", {"settlement_official"}),
    ("GET", "/api/v1/kandas/1/obligation/claim", {"admin", "settlement_official"}),
    ("GET", "/api/v1/kandas/1/eligibility", {"admin", "analyst", "settlement_official"}),
    ("POST", "/api/v1/kandas/1/general-terms", {"admin"}),
    ("GET", "/api/v1/policy-parameters", {"admin", "analyst"}),
    ("GET", "/api/v1/policy-parameters/mrp", {"admin", "analyst"}),
    ("PUT", "/api/v1/policy-parameters/mrp", {"admin"}),
    ("POST", "/api/v1/preselection", {"admin"}),
    ("POST", "/api/v1/maps/monitoring", {"admin", "analyst"}),
    ("GET", "/api/v1/preselection/1", {"admin", "analyst"}),
    ("GET", "/api/v1/zones", {"admin", "analyst"}),
    ("GET", "/api/v1/indicators", {"admin", "analyst"}),
    ("POST", "/api/v1/maps/kandas-settlement", {"admin", "analyst"}),
    ("POST", "/api/v1/devices", {"admin"}),
    ("GET", "/api/v1/tokens", {"admin"}),
    ("DELETE", "/api/v1/tokens/999999", {"admin"}),
    ("GET", "/api/v1/devices/999999/refusals", {"admin"}),
    ("POST", "/api/v1/persons/matches", {"admin", "analyst"}),
    ("POST", "/api/v1/documents/mrz", {"admin", "analyst", "officer"}),
    ("GET", "/api/v1/duplicates", {"admin"}),
    ("POST", "/api/v1/duplicates/999999/decision", {"admin"}),
    ("POST", "/api/v1/merges/999999/undo", {"admin"}),
    # Credentials: an employer only for its own permits, a device for its own person (404
    # for the others).
    ("GET", "/api/v1/permits/1/credential", {"admin", "employer", "device"}),
    ("GET", "/api/v1/permits/1/credential.png", {"admin", "employer", "device"}),
    ("GET", "/api/v1/permits/1/credential/pdf", {"admin", "employer", "device"}),
    ("GET", "/api/v1/registrations/1/credential", {"admin", "employer", "device"}),
    ("GET", "/api/v1/registrations/1/credential.svg", {"admin", "employer", "device"}),
    ("GET", "/api/v1/registrations/1/credential/pdf", {"admin", "employer", "device"}),
    ("POST", "/api/v1/checks/outbox", {"officer"}),
    ("POST", "/api/v1/webhooks", {"admin"}),
    ("GET", "/api/v1/webhooks", {"admin"}),
    ("DELETE", "/api/v1/webhooks/00000000-0000-0000-0000-000000000000", {"admin"}),
    ("GET", "/api/v1/outbox", {"admin"}),
    ("POST", "/api/v1/outbox/999999/resend", {"admin"}),
    ("POST", "/api/v1/persons/1/contacts", {"admin"}),
    ("GET", "/api/v1/persons/1/contacts", {"admin"}),
    ("DELETE", "/api/v1/persons/1/contacts/999999", {"admin"}),
    ("GET", "/api/v1/push-subscriptions/key", {"officer"}),
    ("POST", "/api/v1/push-subscriptions", {"officer"}),
    ("DELETE", "/api/v1/push-subscriptions", {"officer"}),
    ("PUT", "/api/v1/permits/1/household-employer", {"admin"}),
]
# Device protocols authenticate with the token inside the request, not with a role check:
# the paths of the phone apps' registry.
DEVICE_PROTOCOLS = {app.path for app in phone_apps.APPS}
# Public on purpose: anyone verifying a credential reads the status lists (issue 25).
PUBLIC = {"/api/v1/status-lists/<name>"}


@pytest.fixture
def world(client: Any, admin: Any, token: Any) -> dict[str, Any]:
    bin_ = f.employer(client, admin)
    person = f.person(client, admin)
    tokens = {
        "admin": admin,
        "analyst": token("analyst"),
        "officer": token("officer"),
        "employer": token("employer", employer_bin=bin_),
        "device": token("device", person_id=person["id"]),
        "settlement_official": token("settlement_official"),
    }
    return {"bin": bin_, "tokens": tokens}


def _call(client: Any, method: str, url: str, headers: dict[str, str]) -> Any:
    headers = {**headers, "X-Purpose": "rbac-matrix"}
    if method == "GET":
        return client.get(url, headers=headers)
    if method == "PUT":
        return client.put(url, json={}, headers=headers)
    if method == "DELETE":
        return client.delete(url, headers=headers)
    return client.post(url, json={}, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_role_matrix(client: Any, world: dict, method: str, path: str, allowed: set[str]) -> None:
    url = path.replace(BIN, world["bin"])
    assert _call(client, method, url, {}).status_code == 401
    for role in ROLES:
        resp = _call(client, method, url, world["tokens"][role])
        if role in allowed:
            assert resp.status_code not in (401, 403), (role, resp.get_json())
        else:
            assert resp.status_code == 403, (role, resp.status_code)
        assert resp.status_code < 500


def test_matrix_covers_every_api_route(app: Any) -> None:
    adapter = app.url_map.bind("localhost")
    covered = {
        (
            method,
            adapter.match(path.split("?")[0].replace(BIN, "1"), method=method, return_rule=True)[
                0
            ].rule,
        )
        for method, path, _ in MATRIX
    }
    for rule in app.url_map.iter_rules():
        if (
            not rule.rule.startswith("/api/v1/")
            or rule.rule == "/api/v1/openapi.json"
            or rule.rule in DEVICE_PROTOCOLS
            or rule.rule in PUBLIC
        ):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, rule.rule) in covered, f"{method} {rule.rule} missing from MATRIX"


def test_public_routes_answer_without_a_token(client: Any) -> None:
    assert client.get("/api/v1/status-lists/permits").status_code == 200
