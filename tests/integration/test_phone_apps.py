"""The registry of phone apps (services/phone_apps), proved by GPSLogger for Android: its
Custom URL as `qonys device enrol` prints it, filled in the way the app fills it (GET,
POST with a form body, POST with a JSON body, HTTP Basic), stored with the right units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.services.tracking import phone_apps
from backend.services.tracking.phone_apps import gpslogger
from tests import helpers as h
from tests.fixtures import phones

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """NOW is read when each test starts, not when the module was imported: a point's
    device time long before it reaches the server reads as backfilled."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


PUBLIC = "https://qonys.example.kz"


def _rows(db: Any, person_id: int) -> list[Any]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT recorded_at, ST_Y(geom) AS lat, ST_X(geom) AS lon, accuracy_m, speed_mps, "
                    "bearing_deg, altitude_m, battery_pct, source, attributes FROM trace_points "
                    "WHERE person_id = :p ORDER BY recorded_at"
                ),
                {"p": person_id},
            )
        )


def _enrolled_url(monitored: dict) -> tuple[str, str]:
    """The Custom URL and token `qonys device enrol` hands the officer."""
    out = h.qonys(
        "device",
        "enrol",
        "--person",
        str(monitored["person"]["id"]),
        env={"QONYS_PUBLIC_URL": PUBLIC},
        check=True,
    )
    token = out.stdout.strip().splitlines()[-1]
    [line] = [x for x in out.stderr.splitlines() if x.startswith("GPSLogger")]
    url = line.split(": ", 1)[1]
    return url, token


def test_every_app_of_the_registry_is_routed_documented_and_never_rate_limited(
    app: Any, client: Any, admin: Any
) -> None:
    rules = {rule.rule: rule.methods for rule in app.url_map.iter_rules()}
    spec = client.get("/api/v1/openapi.json").get_json()
    for entry in phone_apps.APPS:
        assert set(entry.methods) <= rules[entry.path], entry.name
        documented = spec["paths"][entry.path]
        assert {m.lower() for m in entry.methods} <= set(documented), entry.name
        assert entry.path.startswith(phone_apps.unlimited_paths())
    assert {a.name for a in phone_apps.APPS} >= {"osmand", "owntracks", "gpslogger"}


def test_enrol_prints_the_custom_url_with_gpsloggers_own_placeholders(monitored: dict) -> None:
    url, token = _enrolled_url(monitored)
    assert url.startswith(f"{PUBLIC}/api/v1/traces/gpslogger?id={token}&")
    for placeholder in ("%LAT", "%LON", "%TIME", "%ACC", "%SPD", "%ALT", "%DIR", "%BATT"):
        assert placeholder in url


@pytest.mark.parametrize(
    ("method", "body", "content_type", "in_url"),
    [
        ("GET", "", "", True),
        ("POST", "", "", True),
        ("POST", phones.GPSLOGGER_BODY_FORM, "application/x-www-form-urlencoded", False),
        ("POST", phones.GPSLOGGER_BODY_JSON, "application/json", False),
    ],
)
def test_gpslogger_as_it_really_sends(
    client: Any, db: Any, monitored: dict, method: str, body: str, content_type: str, in_url: bool
) -> None:
    url, token = _enrolled_url(monitored)
    template = url if in_url else url.split("&", 1)[0]  # the body carries the fields
    t = NOW - timedelta(minutes=2)
    sent = phones.gpslogger(template, t, method, body, content_type)
    resp = phones.send(client, sent)
    assert resp.status_code == 200, resp.get_data()
    [row] = _rows(db, monitored["person"]["id"])
    assert row.recorded_at == t and row.source == "gpslogger"
    assert row.lat == pytest.approx(51.1605) and row.lon == pytest.approx(71.4704)
    assert row.accuracy_m == pytest.approx(4.8) and row.speed_mps == pytest.approx(1.25)
    if "batt" in (template + body):
        assert row.battery_pct == pytest.approx(85.0)
    kept = row.attributes or {}
    assert token not in str(kept) and "aid" not in kept and "ser" not in kept
    # The app resends what it could not deliver: stored once.
    assert phones.send(client, sent).status_code == 200
    assert len(_rows(db, monitored["person"]["id"])) == 1


def test_gpslogger_with_basic_authentication_and_a_bad_point(
    client: Any, db: Any, monitored: dict
) -> None:
    url, token = _enrolled_url(monitored)
    without_id = url.replace(f"id={token}&", "")
    t = NOW - timedelta(minutes=1)
    ok = phones.gpslogger(without_id, t, auth=("gpslogger", token))
    assert phones.send(client, ok).status_code == 200
    # A fix out of range is refused and recorded, and the phone still gets 200.
    bad = phones.gpslogger(
        without_id, t + timedelta(seconds=30), auth=("gpslogger", token), lat=123.0
    )
    assert phones.send(client, bad).status_code == 200
    assert len(_rows(db, monitored["person"]["id"])) == 1
    assert h.count(db, "trace_refusals") == 1
    # A heartbeat (no fix) is contact, not a point; an unknown token is 401.
    heartbeat = ("GET", f"{gpslogger.PATH}?id={token}&batt=80.0", {}, b"")
    assert phones.send(client, heartbeat).status_code == 200
    unknown = phones.gpslogger(without_id, t, auth=("gpslogger", "qny_unknown"))
    assert phones.send(client, unknown).status_code == 401
    head = ("HEAD", url.replace(PUBLIC, ""), {}, b"")
    assert phones.send(client, head).status_code == 200
    assert len(_rows(db, monitored["person"]["id"])) == 1
