"""The inputs the security review turned into 500s: each now a clear answer, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fixtures import phones

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/settlement-lists/0/550000000", None),
        ("PUT", "/api/v1/settlement-lists/0/550000000", {"settlements": []}),
        ("GET", "/api/v1/quotas/0/550000000", None),
        ("PUT", "/api/v1/quotas/99999/550000000", {"kandas": 1, "resettlers": 1}),
    ],
)
def test_impossible_years_are_422_naming_the_year(
    client: Any, admin: Any, method: str, path: str, body: Any
) -> None:
    resp = client.open(path, method=method, json=body, headers=admin)
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "year"


def test_deeply_nested_json_is_400(client: Any, admin: Any) -> None:
    deep = "[" * 20000 + "]" * 20000
    resp = client.post(
        "/api/v1/persons", data=deep, headers={**admin, "Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and "nested too deeply" in resp.get_json()["detail"]


def test_year_one_and_huge_altitudes_from_the_batch_api(
    client: Any, monitored: dict, token: Any
) -> None:
    now = datetime.now(UTC).isoformat()
    points = [
        {"t": "0001-01-01T00:00:00+05:00", "lat": 51.1, "lon": 71.4},
        {"t": now, "lat": 51.1, "lon": 71.4, "altitude": 1e300},
    ]
    resp = client.post("/api/v1/traces", json={"points": points}, headers=monitored["headers"])
    assert resp.status_code in (202, 422), resp.get_json()
    analyst = {**token("analyst"), "X-Purpose": "case 500-1"}
    track = client.get(
        f"/api/v1/persons/{monitored['person']['id']}/track"
        "?from=0001-01-01T00:00:00%2B05:00&to=0001-01-02T00:00:00%2B05:00",
        headers=analyst,
    )
    assert track.status_code == 422 and track.get_json()["errors"][0]["field"] == "from"


def test_a_nul_byte_in_a_phone_extra_field_is_not_a_500(client: Any, monitored: dict) -> None:
    request = phones.traccar_android_legacy(
        monitored["secret"], datetime.now(UTC), batt="%00", driverUniqueId="%00ab"
    )
    assert phones.send(client, request).status_code == 200


def test_unknown_person_track_is_404_not_500(client: Any, token: Any) -> None:
    resp = client.get(
        "/api/v1/persons/999999/track", headers={**token("analyst"), "X-Purpose": "case 2"}
    )
    assert resp.status_code in (404, 422)
