"""Real phone apps, replayed byte for byte: nothing they send is lost, nothing jams them."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests
import zxingcpp
from nacl.secret import SecretBox
from PIL import Image
from sqlalchemy import text

from backend.app import create_app
from backend.services import retention
from backend.services.access.tokens import TOKEN_CACHE
from backend.services.tracking import alert_rules
from backend.settings import Settings
from ops.cli import gunicorn_command
from tests import factories as f
from tests import helpers as h
from tests.fixtures import phones

# On Citus (tests/citus_suites.py) only the tests marked below: the rest exercise
# nothing that differs between the engines.

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """NOW is read when each test starts, not when the module was imported: a point's
    device time long before it reaches the server reads as backfilled."""
    global NOW
    NOW = datetime.now(UTC).replace(microsecond=0)


def _rows(db: Any, person_id: int) -> list[Any]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT recorded_at, ST_Y(geom) AS lat, accuracy_m, speed_mps, bearing_deg,"
                    " battery_pct, source, attributes, flags FROM trace_points"
                    " WHERE person_id = :p ORDER BY recorded_at"
                ),
                {"p": person_id},
            )
        )


def _token_id(db: Any, person_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT min(id) FROM api_tokens WHERE person_id = :p AND role = 'device'"),
            {"p": person_id},
        ).scalar_one()


CLIENTS = {
    "traccar-android-legacy": (phones.traccar_android_legacy, "traccar", 0.0, 1.0, 87.0),
    "traccar-ios-legacy": (phones.traccar_ios_legacy, "traccar", 5.0, 0.0, 64.0),
    "traccar-9-json": (phones.traccar_v9_json, "traccar_json", 12.3, None, 87.0),
    "traccar-10-form": (phones.traccar_v10_form, "traccar", 8.0, 0.0, 55.0),
    "osmand-4": (phones.osmand_template, "osmand", 9.648, 1.25, None),
    "owntracks-android": (phones.owntracks_android, "owntracks", 14.0, 0.0, 81.0),
    "owntracks-ios": (phones.owntracks_ios, "owntracks", 5.0, 5.0, 64.0),
}


@pytest.mark.citus
@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_each_client_as_it_really_sends(client: Any, monitored: dict, db: Any, name: str) -> None:
    build, source, accuracy, speed, battery = CLIENTS[name]
    t = NOW - timedelta(minutes=3)
    resp = phones.send(client, build(monitored["secret"], t))
    assert resp.status_code == 200, resp.get_data()
    [row] = _rows(db, monitored["person"]["id"])
    assert row.recorded_at == t and abs(row.lat - 51.1605) < 1e-4 and row.source == source
    assert row.accuracy_m == pytest.approx(accuracy)
    assert (row.speed_mps is None) if speed is None else row.speed_mps == pytest.approx(speed, 1e-4)
    assert row.battery_pct == battery
    assert not row.flags
    if source == "owntracks":
        assert row.attributes["user"] == "person-1" and row.attributes["device"] == "phone"
        assert "SSID" not in row.attributes and "BSSID" not in row.attributes
    assert monitored["secret"] not in json.dumps(row.attributes or {})
    again = phones.send(client, build(monitored["secret"], t))
    assert again.status_code == 200 and len(_rows(db, monitored["person"]["id"])) == 1


def test_a_traccar_queue_drains_whatever_it_holds(
    client: Any, monitored: dict, db: Any, admin: Any
) -> None:
    """Like Traccar Client: send one by one, stop at the first non-2xx. Nothing stops it."""
    token = monitored["secret"]
    # The clock now, not the module's: "10 min fast" must still be ahead when this runs.
    NOW = datetime.now(UTC).replace(microsecond=0)
    queue = [
        ("good", phones.traccar_android_legacy(token, NOW - timedelta(minutes=50))),
        ("clock 10 min fast", phones.traccar_android_legacy(token, NOW + timedelta(minutes=10))),
        ("5 km cell fix", phones.traccar_v10_form(token, NOW - timedelta(minutes=40))),
        ("no timestamp", phones.osmand_template(token, None, lat=51.17)),
        ("bad latitude", phones.traccar_android_legacy(token, NOW - timedelta(minutes=30), lat=95)),
        ("heartbeat", phones.traccar_v9_json(token, NOW - timedelta(minutes=20), coords=False)),
        ("clock 3 h fast", phones.traccar_android_legacy(token, NOW + timedelta(hours=3))),
        ("good again", phones.traccar_ios_legacy(token, NOW - timedelta(minutes=5))),
    ]
    # The 5 km fix: same request, a cell-tower accuracy.
    method, path, headers, body = queue[2][1]
    queue[2] = (
        queue[2][0],
        (method, path, headers, body.replace(b"accuracy=8.0", b"accuracy=5000")),
    )
    sent = []
    for label, request in queue:
        resp = phones.send(client, request)
        if not 200 <= resp.status_code < 300:
            break
        sent.append(label)
    assert sent == [label for label, _ in queue]
    rows = _rows(db, monitored["person"]["id"])
    assert len(rows) == 5
    flags = {tuple(r.flags or ()) for r in rows}
    assert ("clock_skew",) in flags and ("no_timestamp",) in flags
    # Queued 40-50 minutes: received later than the live tolerance, so backfilled too.
    assert ("backfilled",) in flags and ("poor_accuracy", "backfilled") in flags
    token_id = _token_id(db, monitored["person"]["id"])
    page = client.get(f"/api/v1/devices/{token_id}/refusals", headers=admin).get_json()
    assert page["count"] == 2
    reasons = sorted(item["reason"] for item in page["items"])
    assert "lat must be between -90 and 90" in reasons[0] and "clock tolerance" in reasons[1]
    assert all(token not in (item["raw"] or "") for item in page["items"])
    assert all(item["client"] == "traccar" for item in page["items"])
    listed = client.get("/api/v1/tokens?role=device", headers=admin).get_json()["items"]
    assert listed[0]["refusals"] == 2 and listed[0]["last_seen_at"] is not None


@pytest.mark.citus
def test_a_heartbeat_counts_as_contact_against_silent_device(
    client: Any, monitored: dict, db: Any
) -> None:

    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET created_at = now() - interval '20 days'"),
        )
    with db.transaction() as session:
        assert alert_rules.sweep_silent_devices(session)["opened"] == 1
    heartbeat = phones.traccar_v9_json(monitored["secret"], NOW, coords=False)
    assert phones.send(client, heartbeat).status_code == 200
    assert _rows(db, monitored["person"]["id"]) == []
    with db.transaction() as session:
        assert alert_rules.sweep_silent_devices(session)["closed"] == 1


def test_unknown_revoked_and_expired_tokens_get_401(
    client: Any, monitored: dict, admin: Any, db: Any
) -> None:
    t = NOW - timedelta(minutes=1)
    assert phones.send(client, phones.osmand_template("qny_unknown", t)).status_code == 401
    enrolled = client.post(
        "/api/v1/devices", json={"person_id": monitored["person"]["id"]}, headers=admin
    ).get_json()
    secret = enrolled["token"]
    assert phones.send(client, phones.osmand_template(secret, t)).status_code == 200  # cached
    assert client.delete(f"/api/v1/tokens/{enrolled['token_id']}", headers=admin).status_code == 204
    assert phones.send(client, phones.osmand_template(secret, t)).status_code == 401
    assert phones.send(client, phones.owntracks_android(secret, t)).status_code == 401
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = :i"),
            {"i": _token_id(db, monitored["person"]["id"])},
        )

    TOKEN_CACHE.clear()  # an expiry needs no announcement; drop what this test cached
    assert phones.send(client, phones.osmand_template(monitored["secret"], t)).status_code == 401


def test_head_never_stores(client: Any, monitored: dict, db: Any) -> None:
    _method, path, headers, _body = phones.osmand_template(monitored["secret"], NOW)
    assert client.head(path, headers=headers).status_code == 200
    assert _rows(db, monitored["person"]["id"]) == []


def test_owntracks_empty_bodies_and_other_messages(client: Any, monitored: dict, db: Any) -> None:
    resp = phones.send(client, phones.owntracks_empty(monitored["secret"]))
    assert resp.status_code == 200 and resp.get_json() == []
    for kind in ("transition", "waypoint", "waypoints", "lwt", "status", "card"):
        method, path, headers, _ = phones.owntracks_empty(monitored["secret"])
        resp = client.open(
            path, method=method, headers=headers, data=json.dumps({"_type": kind, "tst": 1})
        )
        assert resp.status_code == 200 and resp.get_json() == []
    broken = client.post(
        "/api/v1/traces/owntracks",
        data=b"{not json",
        headers=phones._owntracks_headers(monitored["secret"]),
    )
    assert broken.status_code == 200 and broken.get_json() == []
    assert _rows(db, monitored["person"]["id"]) == []


def _app_encrypt(message: dict, passphrase: str) -> str:
    """As the OwnTracks apps do: secretbox under the passphrase in a 32-byte buffer."""
    key = passphrase.encode()[:32].ljust(32, b"\0")
    return base64.b64encode(bytes(SecretBox(key).encrypt(json.dumps(message).encode()))).decode()


def test_owntracks_encrypted_payloads(client: Any, admin: Any, monitored: dict, db: Any) -> None:
    person_id = monitored["person"]["id"]
    enrolled = client.post(
        "/api/v1/devices", json={"person_id": person_id, "encrypt": True}, headers=admin
    ).get_json()
    inline = parse_qs(urlparse(enrolled["owntracks_uri"]).query)["inline"][0]
    config = json.loads(base64.b64decode(unquote(inline)))
    t = NOW - timedelta(minutes=2)
    location = json.loads(phones.owntracks_ios(enrolled["token"], t)[3])
    sealed = _app_encrypt(location, config["encryptionKey"])
    resp = phones.send(client, phones.owntracks_encrypted(enrolled["token"], sealed))
    assert resp.status_code == 200 and resp.get_json() == []
    assert len(_rows(db, person_id)) == 1
    # The older device has no key: refused, recorded, and still answered 200.
    resp = phones.send(client, phones.owntracks_encrypted(monitored["secret"], sealed))
    assert resp.status_code == 200
    token_id = _token_id(db, person_id)
    page = client.get(f"/api/v1/devices/{token_id}/refusals", headers=admin).get_json()
    assert page["count"] == 1 and "no key" in page["items"][0]["reason"]


@pytest.mark.citus
def test_sos_and_fake_gps_raise_alerts_sos_first(client: Any, monitored: dict, token: Any) -> None:
    secret, t = monitored["secret"], NOW - timedelta(minutes=1)
    assert (
        phones.send(client, phones.traccar_android_legacy(secret, t, mock="true")).status_code
        == 200
    )
    sos = phones.traccar_android_legacy(secret, t + timedelta(seconds=30), alarm="sos")
    assert phones.send(client, sos).status_code == 200
    officer = token("officer", region_kato=f.ASTANA_KATO)
    items = client.get("/api/v1/alerts", headers=officer).get_json()["items"]
    assert [a["kind"] for a in items] == ["sos", "mock_location"]
    assert items[0]["urgent"] is True and items[0]["region_kato"] == f.ASTANA_KATO
    json_sos = phones.traccar_v9_json(secret, NOW, extras={"alarm": "sos"})
    assert phones.send(client, json_sos).status_code == 200


def test_unreliable_fixes_open_no_region_alert(client: Any, monitored: dict, db: Any) -> None:
    """30 hours in Almaty, all of them cell-tower fixes: no left_permit_region alert."""
    person_id = monitored["person"]["id"]
    start = NOW - timedelta(hours=30)
    for hour in range(31):
        method, path, headers, body = phones.traccar_android_legacy(
            monitored["secret"], start + timedelta(hours=hour), lat=43.2567, lon=76.9286
        )
        phones.send(client, (method, path.replace("accuracy=0.0", "accuracy=3000"), headers, body))
    with db.transaction() as session:
        alert_rules.evaluate_person(session, person_id, Settings(), NOW)
    with db.engine.connect() as conn:
        kinds = (
            conn.execute(text("SELECT kind FROM alerts WHERE person_id = :p"), {"p": person_id})
            .scalars()
            .all()
        )
    assert "left_permit_region" not in kinds and len(_rows(db, person_id)) == 31


def test_nul_and_huge_values_from_a_phone_are_no_500(client: Any, monitored: dict, db: Any) -> None:
    method, path, headers, body = phones.traccar_android_legacy(monitored["secret"], NOW)
    resp = client.open(
        path.replace("altitude=347.0", "altitude=1e300") + "&note=a%00b",
        method=method,
        headers=headers,
        data=body,
    )
    assert resp.status_code == 200
    [row] = _rows(db, monitored["person"]["id"])
    assert row.attributes["note"] == "ab" and "implausible_field_dropped" in row.flags
    deep = b'{"location":' * 5000 + b"1" + b"}" * 5000
    resp = client.post(
        "/api/v1/traces/osmand", data=deep, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 401  # no device identified; never a 500


def test_rate_limits_never_jam_a_phone_but_batch_gets_429(
    migrated: Any, monitored: dict, db: Any
) -> None:

    app = create_app(replace(migrated, device_rate_limit="3/minute", batch_rate_limit="2/minute"))
    limited = app.test_client()
    for minute in range(5):
        request = phones.osmand_template(monitored["secret"], NOW - timedelta(minutes=minute))
        assert phones.send(limited, request).status_code == 200
    assert len(_rows(db, monitored["person"]["id"])) == 3
    with db.engine.connect() as conn:
        overflow = conn.execute(
            text("SELECT count(*) FROM trace_refusals WHERE reason LIKE 'over the device rate%'")
        ).scalar_one()
    assert overflow == 2
    batch = {"points": [{"t": NOW.isoformat(), "lat": 51.16, "lon": 71.47}]}
    codes = [
        limited.post("/api/v1/traces", json=batch, headers=monitored["headers"]) for _ in range(3)
    ]
    assert [r.status_code for r in codes] == [202, 202, 429]
    assert codes[2].mimetype == "application/problem+json"
    assert int(codes[2].headers["Retry-After"]) > 0
    app.extensions["qonys.db"].dispose()


def test_each_window_of_every_leased_limit_counts(
    migrated: Any, monitored: dict, token: Any, db: Any
) -> None:
    """A limit of several windows ("100/minute;2/hour"): the second counts too, for the
    batch, the API and a device alike (the API's and a device's counted only the first)."""
    app = create_app(
        replace(
            migrated,
            batch_rate_limit="100/minute;2/hour",
            api_rate_limit="100/minute;3/hour",
            device_rate_limit="100/minute;3/hour",
        )
    )
    # Half past the hour, held there: no window turns while the test runs.
    half_past = time.time() // 3600 * 3600 + 1800
    app.extensions["qonys.rate_leases"].clock = lambda: half_past
    limited = app.test_client()
    batch = {"points": [{"t": (NOW - timedelta(hours=1)).isoformat(), "lat": 51.16, "lon": 71.47}]}
    codes = [
        limited.post("/api/v1/traces", json=batch, headers=monitored["headers"]) for _ in range(3)
    ]
    assert [r.status_code for r in codes] == [202, 202, 429]
    assert codes[2].headers["Retry-After"] == "1800"  # the hour's window, not the minute's
    analyst = {**token("analyst"), "X-Purpose": "case R-1"}
    answers = [limited.get("/api/v1/alerts", headers=analyst) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[3].headers["Retry-After"] == "1800"
    before = len(_rows(db, monitored["person"]["id"]))
    for minute in range(5):
        request = phones.osmand_template(monitored["secret"], NOW - timedelta(minutes=minute))
        assert phones.send(limited, request).status_code == 200  # a phone is never refused
    assert len(_rows(db, monitored["person"]["id"])) == before + 3
    with db.engine.connect() as conn:
        overflow = conn.execute(
            text("SELECT count(*) FROM trace_refusals WHERE reason LIKE 'over the device rate%'")
        ).scalar_one()
    assert overflow == 2
    app.extensions["qonys.db"].dispose()


def test_every_api_route_is_limited_per_token_but_never_a_phone(
    migrated: Any, monitored: dict, token: Any
) -> None:
    app = create_app(replace(migrated, api_rate_limit="3/minute"))
    limited = app.test_client()
    analyst = {**token("analyst"), "X-Purpose": "case R-1"}
    codes = [limited.get("/api/v1/alerts", headers=analyst) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert codes[3].mimetype == "application/problem+json"
    assert codes[3].get_json()["code"] == "rate_limited"
    assert int(codes[3].headers["Retry-After"]) > 0
    # Another token has its own count; a phone is never limited this way.
    other = {**token("analyst"), "X-Purpose": "case R-2"}
    assert limited.get("/api/v1/alerts", headers=other).status_code == 200
    for minute in range(5):
        request = phones.osmand_template(monitored["secret"], NOW - timedelta(minutes=minute))
        assert phones.send(limited, request).status_code == 200
    # Pages and the health check are not the API.
    assert all(limited.get("/health").status_code in (200, 503) for _ in range(5))
    app.extensions["qonys.db"].dispose()


def test_enrol_prints_qr_codes_then_the_token(
    client: Any, monitored: dict, tmp_path: Path, migrated: Any
) -> None:

    env = {**os.environ, "QONYS_PUBLIC_URL": "https://qonys.example.kz"}
    out = h.qonys(
        "device",
        "enrol",
        "--person",
        str(monitored["person"]["id"]),
        "--expires",
        "30",
        "--out",
        str(tmp_path),
        env=env,
    )
    lines = out.stdout.strip().splitlines()
    token, paths = lines[-1], [Path(p) for p in lines[:-1]]
    assert token.startswith("qny_") and len(paths) == 4 and all(p.exists() for p in paths)
    assert {p.suffix for p in paths} == {".png", ".svg"}
    assert all(p.stat().st_mode & 0o077 == 0 for p in paths)
    decoded = {
        p.name: zxingcpp.read_barcodes(Image.open(p))[0].text for p in paths if p.suffix == ".png"
    }
    traccar = next(v for k, v in decoded.items() if "traccar" in k)
    query = parse_qs(urlparse(traccar).query)
    assert traccar.startswith("org.traccar.client://")
    assert query["id"] == [token]
    assert query["url"] == ["https://qonys.example.kz/api/v1/traces/osmand"]
    owntracks = next(v for k, v in decoded.items() if "owntracks" in k)
    config = json.loads(base64.b64decode(unquote(owntracks.split("inline=", 1)[1])))
    assert config["mode"] == 3 and config["password"] == token and config["auth"] is True
    assert config["url"] == "https://qonys.example.kz/api/v1/traces/owntracks"
    assert "<svg" in paths[1].read_text() or "<svg" in paths[3].read_text()
    # The token works, `token list` shows it, `token revoke` stops it at once.
    assert phones.send(client, phones.osmand_template(token, NOW)).status_code == 200
    listing = h.qonys("token", "list", "--role", "device", env=env, check=True).stdout
    assert "person " + str(monitored["person"]["id"]) in listing and token not in listing
    h.qonys("token", "revoke", token, env=env, check=True)
    assert phones.send(client, phones.osmand_template(token, NOW)).status_code == 401


@contextlib.contextmanager
def _gunicorn(
    threads: int = 2,
    access_log: str | None = None,
    env: dict[str, str] | None = None,
    error_log: Any = subprocess.DEVNULL,
) -> Iterator[tuple[str, int]]:
    """A real gunicorn serving the app as `qonys serve` starts it, one worker; (URL, pid).
    ``error_log``: where its own log (stderr) goes."""
    port = h.free_port()
    server = subprocess.Popen(
        gunicorn_command(f"127.0.0.1:{port}", 1, threads, access_log),
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=error_log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/health", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_access_log_never_holds_a_token(monitored: dict, tmp_path: Path, migrated: Any) -> None:
    """A real gunicorn, as `qonys serve` starts it; the log file is grepped afterwards."""
    log = tmp_path / "access.log"
    with _gunicorn(access_log=str(log)) as (base, _pid):
        secret = monitored["secret"]
        for request in (
            phones.osmand_template(secret, NOW),
            phones.traccar_android_legacy(secret, NOW - timedelta(minutes=1)),
            phones.owntracks_android(secret, NOW - timedelta(minutes=2)),
            phones.traccar_v9_json(secret, NOW - timedelta(minutes=3)),
        ):
            method, path, headers, body = request
            resp = requests.request(method, base + path, headers=headers, data=body, timeout=5)
            assert resp.status_code == 200
        requests.get(f"{base}/api/v1/traces/osmand?deviceid={secret}", timeout=5)
        requests.post(
            base + "/api/v1/traces", json={"points": []}, headers=monitored["headers"], timeout=5
        )
    written = log.read_text()
    assert written.count("\n") >= 6 and "/api/v1/traces/osmand?id=***" in written
    assert secret not in written and secret[4:] not in written


def test_gunicorns_own_log_never_holds_a_token(monitored: dict, tmp_path: Path) -> None:
    """A request line gunicorn cannot parse (a raw 0xFF byte) is quoted whole in its own
    log, "Invalid request from ip=…", token and all (helper report F11)."""
    log = tmp_path / "gunicorn.log"
    secret = monitored["secret"]
    with log.open("wb") as errors, _gunicorn(error_log=errors) as (base, _pid):
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(
                b"GET /api/v1/traces/osmand?id=" + secret.encode() + b"&lat=51.1\xff HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\n\r\n"
            )
            answer = raw.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400")
    written = log.read_text(errors="replace")
    assert "Invalid request" in written and "id=***" in written
    assert secret not in written and secret[4:] not in written


@pytest.mark.citus
def test_refused_input_goes_with_the_trace_retention(
    client: Any, monitored: dict, db: Any, migrated: Any
) -> None:
    bad = phones.traccar_android_legacy(monitored["secret"], NOW, lat=95)
    assert phones.send(client, bad).status_code == 200
    assert phones.send(client, bad).status_code == 200
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE trace_refusals SET received_at = now() - interval '91 days'"
                " WHERE id = (SELECT min(id) FROM trace_refusals)"
            )
        )
    with db.transaction() as session:
        assert retention.enforce(session, migrated)["refused phone requests"] == 1
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM trace_refusals")).scalar_one() == 1


def test_no_acknowledged_point_is_lost_when_the_worker_is_killed(
    monitored: dict, token: Any, tmp_path: Path, migrated: Any, db: Any
) -> None:
    """kill -9 of the gunicorn worker mid-stream: every point answered 200 is stored.

    Four phones send at once to a worker of four threads, so points share group commits
    (issue 27) when the worker dies. Each client behaves like a phone: a point it got no
    answer for is sent again.
    """

    person = monitored["person"]["id"]
    secrets = [monitored["secret"]] + [
        token("device", person_id=person)["Authorization"].split()[1] for _ in range(3)
    ]
    acked: list[datetime] = []
    # 4 x 100 points in seconds: above the default device limit, whose overflow is
    # answered 200 and recorded, not stored; this test is about durability.
    fast = {"QONYS_DEVICE_RATE_LIMIT": "100000/minute"}
    with _gunicorn(threads=4, env=fast) as (base, master):

        def phone(n: int, secret: str) -> None:
            session = requests.Session()
            for k in range(100):
                t = NOW - timedelta(minutes=60, seconds=-(k * 4 + n) * 10)
                _m, path, headers, _b = phones.osmand_template(secret, t)
                for _attempt in range(100):
                    try:
                        if session.get(base + path, headers=headers, timeout=5).status_code == 200:
                            acked.append(t)
                            break
                    except requests.RequestException:
                        session = requests.Session()
                        time.sleep(0.1)

        senders = [threading.Thread(target=phone, args=(n, s)) for n, s in enumerate(secrets)]
        for sender in senders:
            sender.start()
        killed = 0
        for kill in range(3):
            while len(acked) < 80 * (kill + 1) and any(s.is_alive() for s in senders):
                time.sleep(0.01)
            workers = subprocess.run(
                ["pgrep", "-P", str(master)], capture_output=True, text=True
            ).stdout.split()
            for pid in workers:
                os.kill(int(pid), signal.SIGKILL)
                killed += 1
        for sender in senders:
            sender.join(timeout=180)
    stored = {r.recorded_at for r in _rows(db, person)}
    assert killed >= 3  # each kill hit a live worker, which gunicorn then replaced
    assert len(acked) == 400 and set(acked) <= stored and len(stored) == 400


def test_a_percent_encoded_token_is_redacted_in_the_log_and_the_refusals(
    monitored: dict, tmp_path: Path, db: Any, migrated: Any
) -> None:
    """Issue 28, F15: ``?i%64=qny%5F…`` is ``?id=qny_…`` to the server; the access log and
    ``trace_refusals.raw`` are matched after decoding, so neither keeps the token."""
    secret = monitored["secret"]
    every_byte = "".join(f"%{b:02X}" for b in secret.encode())
    log = tmp_path / "access.log"
    with _gunicorn(access_log=str(log)) as (base, _pid):
        for query in (
            f"i%64=qny%5F{secret[4:]}&lat=95&lon=71.4",  # a latitude off the map: refused
            f"%69%64={every_byte}&lat=95&lon=71.4",
            f"deviceid={secret.replace('_', '%255F')}&lat=95&lon=71.4",
        ):
            resp = requests.get(f"{base}/api/v1/traces/osmand?{query}", timeout=5)
            assert resp.status_code in (200, 401)
    written = log.read_text()
    assert written.count("\n") >= 3
    assert secret[4:] not in written and every_byte not in written
    with db.engine.connect() as conn:
        raws = conn.execute(
            text("SELECT raw FROM trace_refusals WHERE person_id = :p"),
            {"p": monitored["person"]["id"]},
        ).scalars()
        kept = list(raws)
    assert len(kept) == 2 and all(secret[4:] not in raw and "%" not in raw for raw in kept)
