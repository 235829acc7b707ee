"""Issue 28 F6: each class of input that answered 500, now a 4xx naming the field — and
a known phone still answered 2xx, with what it sent recorded as a refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.fixtures import phones

HUGE_INT = "9" * 5000  # over the interpreter's 4,300-digit limit
LONG_INT = "7" * 400


def _write_operations(client: Any) -> list[tuple[str, str]]:
    spec = client.get("/api/v1/openapi.json").get_json()
    found = []
    for path, item in spec["paths"].items():
        if path.startswith("/api/v1/traces/"):  # the phones: answered 2xx, tested below
            continue
        for method in ("post", "put", "patch"):
            if method in item:
                concrete = path
                for name in ("person_id", "permit_id", "token_id", "alert_id", "id"):
                    concrete = concrete.replace("{" + name + "}", "1")
                concrete = concrete.replace("{year}", "2026").replace("{region_kato}", "710000000")
                concrete = concrete.replace("{bin_}", "220340001112").replace("{name}", "mrp")
                found.append((method.upper(), concrete))
    return found


def test_an_integer_of_5000_digits_is_400_on_every_write(client: Any, admin: Any) -> None:
    operations = _write_operations(client)
    assert len(operations) >= 20
    body = '{"value": ' + HUGE_INT + ', "points": [], "name": "x"}'
    answers = {}
    for method, path in operations:
        resp = client.open(
            path,
            method=method,
            data=body,
            headers={
                **admin,
                "Content-Type": "application/json",
                "X-Purpose": "fuzz",
                "Idempotency-Key": f"k-{method}-{path}",
            },
        )
        answers[(method, path)] = resp.status_code
        assert resp.status_code < 500, (method, path, resp.get_data(as_text=True))
    json_bodies = [k for k, v in answers.items() if v == 400]
    assert len(json_bodies) >= 15, answers


def test_the_integer_refusal_names_the_body(client: Any, admin: Any) -> None:
    resp = client.post(
        "/api/v1/persons",
        data='{"surname": ' + HUGE_INT + "}",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert "too many digits" in resp.get_json()["detail"]


@pytest.mark.parametrize("value", [1e300, -1e300, 5e-324, -5e-324, 1e-40])
@pytest.mark.parametrize(
    "field", ["altitude_m", "bearing_deg", "battery_pct", "accuracy_m", "speed_mps"]
)
def test_extreme_floats_in_a_batch_point_never_lose_the_batch(
    client: Any, monitored: dict, db: Any, field: str, value: float
) -> None:
    now = datetime.now(UTC)
    good = {"t": now.replace(microsecond=1).isoformat(), "lat": 51.1, "lon": 71.4}
    odd = {"t": now.replace(microsecond=2).isoformat(), "lat": 51.1, "lon": 71.4, field: value}
    resp = client.post("/api/v1/traces", json={"points": [good, odd]}, headers=monitored["headers"])
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    # The good point is kept; the odd one is kept without the value, or reported.
    assert body["accepted"] + len(body["rejected"]) == 2 and body["accepted"] >= 1
    with db.engine.connect() as conn:
        stored = conn.execute(
            text(f"SELECT {field}, flags FROM trace_points WHERE recorded_at = :t"),
            {"t": odd["t"]},
        ).first()
    if stored is not None:
        kept, flags = stored
        assert kept is None or abs(kept) < 1e6
        if value > 1:  # a negative value is an app's "unknown": dropped, not flagged
            assert kept is None and "implausible_field_dropped" in (flags or [])


def test_an_altitude_of_1e300_in_the_fast_path_is_dropped_and_flagged(
    client: Any, monitored: dict, db: Any
) -> None:
    points = [{"t": datetime.now(UTC).isoformat(), "lat": 51.1, "lon": 71.4, "altitude_m": 1e300}]
    resp = client.post("/api/v1/traces", json={"points": points}, headers=monitored["headers"])
    assert resp.status_code == 202 and resp.get_json()["accepted"] == 1
    with db.engine.connect() as conn:
        altitude, flags = conn.execute(text("SELECT altitude_m, flags FROM trace_points")).one()
    assert altitude is None and flags == ["implausible_field_dropped"]


@pytest.mark.parametrize(
    "query",
    [
        "hdop=1e300",
        "accuracy=1e300",
        "accuracy=5e-324",
        "speed=1e300",
        "altitude=-1e300",
        "batt=5e-324",
        f"bearing={LONG_INT}",
        f"timestamp={LONG_INT}",
        f"lat={LONG_INT}",
    ],
)
def test_a_known_phone_gets_200_for_extreme_numbers(
    client: Any, monitored: dict, db: Any, query: str
) -> None:
    key = query.split("=")[0]
    base = {
        "id": monitored["secret"],
        "lat": "51.1605",
        "lon": "71.4704",
        "timestamp": str(int(datetime.now(UTC).timestamp())),
    }
    base[key] = query.split("=", 1)[1]
    resp = client.get("/api/v1/traces/osmand", query_string=base)
    assert resp.status_code == 200
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM trace_points")).scalar()
        refused = conn.execute(text("SELECT count(*) FROM trace_refusals")).scalar()
    # Only a point without a place or a time is refused; an optional value is dropped.
    assert (stored, refused) == ((0, 1) if key in ("lat", "timestamp") else (1, 0))


def test_owntracks_tst_and_traccar_speed_of_400_digits_get_200(
    client: Any, monitored: dict, db: Any
) -> None:
    secret = monitored["secret"]
    owntracks = json.dumps({"_type": "location", "lat": 51.16, "lon": 71.47, "tst": 0})
    owntracks = owntracks.replace('"tst": 0', f'"tst": {LONG_INT}')
    resp = client.post(
        phones.OT_PATH,
        data=owntracks,
        headers={
            "Authorization": phones._basic("u", secret),
            "Content-Type": "application/json",
        },
    )
    assert resp.status_code == 200
    traccar = {
        "device_id": secret,
        "location": {
            "timestamp": datetime.now(UTC).isoformat(),
            "coords": {"latitude": 51.16, "longitude": 71.47, "speed": 0},
        },
    }
    raw = json.dumps(traccar).replace('"speed": 0', f'"speed": {LONG_INT}')
    resp = client.post(phones.PATH, data=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 200
    with db.engine.connect() as conn:
        refused = conn.execute(text("SELECT count(*) FROM trace_refusals")).scalar()
        stored = conn.execute(text("SELECT count(*) FROM trace_points")).scalar()
    assert refused + stored == 2


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/jobs/ab%00cd", "job_id"),
        ("/api/v1/quotas/2026/71000%000", "region_kato"),
        ("/api/v1/settlement-lists/2026/71%0000000", "region_kato"),
        ("/api/v1/employers/2203400%0001112/permits", "bin_"),
        ("/api/v1/persons?surname=a%00b", "surname"),
    ],
)
def test_a_nul_byte_in_a_path_or_query_is_422_naming_it(
    client: Any, admin: Any, path: str, field: str
) -> None:
    resp = client.get(path, headers={**admin, "X-Purpose": "fuzz"})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert resp.get_json()["errors"][0]["field"] == field


def test_a_monitoring_map_for_year_one_is_422_naming_the_date(client: Any, token: Any) -> None:
    analyst = {**token("analyst"), "X-Purpose": "fuzz"}
    page = client.get("/maps/monitoring?date_to=0001-01-01", headers=analyst)
    assert page.status_code == 422 and page.get_json()["errors"][0]["field"] == "date_to"
    start = client.post(
        "/api/v1/maps/monitoring", json={"date_from": "0001-01-01"}, headers=analyst
    )
    assert start.status_code == 422 and start.get_json()["errors"][0]["field"] == "date_from"


@pytest.mark.parametrize("bbox", ["nan,nan,nan,nan", "0,0,inf,inf", "-inf,40,80,55"])
def test_a_bbox_of_nan_or_infinity_is_422_naming_bbox(client: Any, token: Any, bbox: str) -> None:
    resp = client.get(f"/ogc/collections/regions/items?bbox={bbox}", headers=token("analyst"))
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "bbox"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_infinity_as_a_policy_value_is_400(client: Any, admin: Any, literal: str) -> None:
    body = '{"value": ' + literal + ', "effective_from": "2026-01-01", "source": "assumption"}'
    resp = client.put(
        "/api/v1/policy-parameters/mrp",
        data=body,
        headers={**admin, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["errors"][0]["field"] == "body"
    assert literal.lstrip("-") in resp.get_json()["detail"]


@pytest.mark.parametrize("field", ["t", "lat", "lon", "altitude_m"])
def test_a_400_digit_number_in_a_batch_point_is_no_server_error(
    client: Any, monitored: dict, db: Any, field: str
) -> None:
    """Issue 28, F6 through HTTP: a 400-digit number where a point's time or coordinate
    goes is refused with a problem naming it, or drops that point alone; never a 500."""
    now = datetime.now(UTC)
    good = {"t": now.replace(microsecond=3).isoformat(), "lat": 51.1, "lon": 71.4}
    odd = {"t": now.replace(microsecond=4).isoformat(), "lat": 51.1, "lon": 71.4}
    huge = "1" + "0" * 400
    fields = [f"{json.dumps(k)}: {huge if k == field else json.dumps(v)}" for k, v in odd.items()]
    if field not in odd:
        fields.append(f"{json.dumps(field)}: {huge}")
    body = '{"points": [' + json.dumps(good) + ", {" + ", ".join(fields) + "}]}"
    resp = client.post(
        "/api/v1/traces",
        data=body,
        headers={**monitored["headers"], "Content-Type": "application/json"},
    )
    assert resp.status_code in (202, 400, 422), resp.get_data()
    answer = resp.get_json()
    if resp.status_code == 202:
        assert answer["accepted"] >= 1  # the good point is never lost with the odd one
    else:
        assert resp.mimetype == "application/problem+json" and "digits" in answer["detail"]


NOT_READ_AS_INT = ["²", "1²", "①②", "⁵"]  # str.isdigit() says yes, int() and float() no


def _stored(db: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT altitude_m, bearing_deg, speed_mps, accuracy_m, battery_pct, flags"
                " FROM trace_points ORDER BY recorded_at"
            )
        ).all()


def _refusals(db: Any) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text("SELECT reason FROM trace_refusals ORDER BY id")).scalars())


@pytest.mark.parametrize("odd", NOT_READ_AS_INT)
def test_a_time_in_digits_python_cannot_read_is_refused_never_a_500(
    client: Any, monitored: dict, db: Any, odd: str
) -> None:
    """A superscript or circled digit passed str.isdigit() and then broke float(): 500 on
    every phone format and on the batch API, whose good points went with it."""
    secret, now = monitored["secret"], datetime.now(UTC)
    osmand = {"id": secret, "lat": "51.16", "lon": "71.47", "timestamp": odd}
    sent = [client.get(phones.PATH, query_string=osmand)]
    method, path, headers, body = phones.traccar_v9_json(secret, now)
    sent.append(client.open(path, method=method, headers=headers,
                            data=body.replace(now.strftime("%Y-%m-%dT%H:%M:%S.000Z").encode(),
                                              odd.encode())))  # fmt: skip
    method, path, headers, body = phones.owntracks_android(secret, now)
    message = json.loads(body)
    message["tst"] = odd
    sent.append(client.open(path, method=method, headers=headers, data=json.dumps(message)))
    assert [r.status_code for r in sent] == [200, 200, 200]
    assert len(_refusals(db)) == 3 and _stored(db) == []
    good = {"t": now.isoformat(), "lat": 51.16, "lon": 71.47}
    batch = client.post(
        "/api/v1/traces",
        json={"points": [{"t": odd, "lat": 51.16, "lon": 71.47}, good]},
        headers=monitored["headers"],
    )
    assert batch.status_code == 202, batch.get_json()
    answer = batch.get_json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [0]
    assert "t is not an ISO 8601 time" in answer["rejected"][0]["reason"]


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("altitude", "1e309"),
        ("altitude", "NaN"),
        ("bearing", "inf"),
        ("speed", "-Infinity"),
        ("hdop", "1e999"),
        ("batt", "nan"),
        ("altitude", "abc"),
    ],
)
def test_an_optional_number_a_phone_cannot_mean_is_dropped_not_the_point(
    client: Any, monitored: dict, db: Any, field: str, raw: str
) -> None:
    """``altitude=1e308`` was kept with the value dropped, but ``1e309``, ``NaN`` or
    ``inf`` refused the whole point, answered 200: a point with a place and a time lost."""
    query = {
        "id": monitored["secret"],
        "lat": "51.16",
        "lon": "71.47",
        "timestamp": str(int(datetime.now(UTC).timestamp())),
        field: raw,
    }
    assert client.get(phones.PATH, query_string=query).status_code == 200
    assert _refusals(db) == []
    [row] = _stored(db)
    assert row.flags == ["implausible_field_dropped"]
    assert row[:5] == (None,) * 5


def test_owntracks_and_the_batch_api_keep_a_point_whose_optional_number_overflows(
    client: Any, monitored: dict, db: Any
) -> None:
    """JSON numbers a double cannot hold (1e400 reads as infinity; 400 digits overflow a
    float): the phone's point and the batch's are kept, the value dropped and flagged. The
    batch API takes what a phone's request takes: an out-of-range speed or accuracy is
    dropped too (-1, "unknown", without a flag), never the point."""
    now = datetime.now(UTC).replace(microsecond=0)
    method, path, headers, body = phones.owntracks_android(monitored["secret"], now)
    raw = body.decode().replace('"alt": 347', '"alt": 1e400')
    raw = raw.replace('"batt": 81', f'"batt": {LONG_INT}')
    assert client.open(path, method=method, headers=headers, data=raw).status_code == 200
    odd = [
        ('"altitude_m": 1e400', ["implausible_field_dropped"]),
        (f'"bearing_deg": {LONG_INT}', ["implausible_field_dropped"]),
        ('"speed_mps": -1', None),
        ('"speed_mps": 200', ["implausible_field_dropped"]),
        ('"accuracy_m": -1', None),
        ('"accuracy_m": 200000', ["implausible_field_dropped", "poor_accuracy"]),
        ('"battery_pct": "full"', ["implausible_field_dropped"]),
    ]
    points = ", ".join(
        f'{{"t": "{(now.replace(second=0) - timedelta(minutes=k + 1)).isoformat()}",'
        f' "lat": 51.16, "lon": 71.47, {value}}}'
        for k, (value, _flags) in enumerate(odd)
    )
    resp = client.post(
        "/api/v1/traces",
        data='{"points": [' + points + "]}",
        headers={**monitored["headers"], "Content-Type": "application/json"},
    )
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["accepted"] == len(odd) and resp.get_json()["rejected"] == []
    rows = _stored(db)
    assert _refusals(db) == []
    assert [sorted(r.flags) if r.flags else None for r in rows] == [
        *(flags for _value, flags in reversed(odd)),
        ["implausible_field_dropped"],  # the OwnTracks point, newest
    ]
    assert all(r[:5].count(None) >= 1 for r in rows)


def test_a_token_with_a_lone_surrogate_is_unknown_never_a_500(client: Any, app: Any) -> None:
    """JSON may escape half a surrogate pair (``"\\ud800"``), which no UTF-8 can carry:
    the token read from a Traccar Client or GPSLogger body broke its hashing with a 500."""
    now = datetime.now(UTC).isoformat()
    location = f'{{"timestamp": "{now}", "coords": {{"latitude": 51.16, "longitude": 71.47}}}}'
    traccar = '{"device_id": "\\ud800", "location": ' + location + "}"
    gpslogger = '{"id": "qny_\\udfff", "lat": 51.16, "lon": 71.47}'
    json_type = {"Content-Type": "application/json"}
    answers = [
        client.post(phones.PATH, data=traccar, headers=json_type),
        client.post("/api/v1/traces/gpslogger", data=gpslogger, headers=json_type),
        client.get("/api/v1/persons/1", headers={"Authorization": "Bearer \udfff"}),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]


def test_a_known_device_whose_json_python_cannot_read_is_told_200_not_401(
    client: Any, monitored: dict, db: Any
) -> None:
    """Valid JSON the parser refuses (a number of 5,000 digits, nesting two thousand
    deep) hid the token in it: the device was told 401 and would re-enrol or stop
    sending (helper report F12). Its token is found; its point is refused, recorded."""
    secret, now = monitored["secret"], datetime.now(UTC).isoformat()
    huge = (
        f'{{"device_id": "{secret}", "location": {{"timestamp": "{now}",'
        f' "coords": {{"latitude": {HUGE_INT}, "longitude": 71.47}}}}}}'
    )
    deep = f'{{"device_id": "{secret}", "extras": ' + "[" * 2000 + "]" * 2000 + "}"
    gpslogger = f'{{"id": "{secret}", "lat": {HUGE_INT}, "lon": 71.47}}'
    json_type = {"Content-Type": "application/json"}
    answers = [
        client.post(phones.PATH, data=huge, headers=json_type),
        client.post(phones.PATH, data=deep, headers=json_type),
        client.post("/api/v1/traces/gpslogger", data=gpslogger, headers=json_type),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len(_refusals(db)) == 3 and _stored(db) == []


def _traccar_legacy(secret: str, t: datetime, value: str) -> Any:
    method, path, headers, body = phones.traccar_android_legacy(secret, t)
    return method, path.replace("speed=1.9438440322875977", f"speed={value}"), headers, body


def _traccar_json(field: str) -> Any:
    def build(secret: str, t: datetime, value: str) -> Any:
        method, path, headers, body = phones.traccar_v9_json(secret, t)
        message = json.loads(body)
        if field == "level":
            message["location"]["battery"]["level"] = float(value)
        else:
            message["location"]["coords"][field] = float(value)
        return method, path, headers, json.dumps(message).encode()

    return build


def _owntracks_vel(secret: str, t: datetime, value: str) -> Any:
    method, path, headers, body = phones.owntracks_android(secret, t)
    message = json.loads(body)
    message["vel"] = float(value)
    return method, path, headers, json.dumps(message).encode()


@pytest.mark.parametrize(
    "build",
    [
        _traccar_legacy,
        _traccar_json("speed"),
        _traccar_json("heading"),
        _traccar_json("accuracy"),
        _traccar_json("level"),
        _owntracks_vel,
    ],
    ids=["traccar speed (knots)", "traccar9 speed", "heading", "accuracy", "battery", "vel"],
)
def test_only_minus_one_is_unknown_in_every_unit(
    client: Any, monitored: dict, db: Any, build: Any
) -> None:
    """-1 is what the apps send for a value they do not know: dropped without a flag. A
    speed in knots was converted first (-1 knot read as -0.51 m/s, flagged), and some
    parsers dropped any negative value unflagged (-2, -0.5 vanished without a trace)."""
    now = datetime.now(UTC).replace(microsecond=0)
    for k, value in enumerate(["-1", "-2", "-0.5"]):
        sent = build(monitored["secret"], now - timedelta(minutes=k + 1), value)
        assert phones.send(client, sent).status_code == 200
    flags = [r.flags or [] for r in _stored(db)]
    dropped = ["implausible_field_dropped" in f for f in flags]
    assert dropped == [True, True, False]  # oldest first: -0.5, -2, then -1


def test_the_batch_api_takes_nan_and_infinity_as_the_phone_formats_do(
    client: Any, monitored: dict, db: Any, admin: Any
) -> None:
    """``NaN`` and ``Infinity`` are no JSON, but some writers send them, and OwnTracks'
    and Traccar's bodies keep the point: the batch API refused the whole batch with 400
    (second attack round, F10). An optional one is dropped and flagged; a place that is
    one refuses its point only."""
    now = datetime.now(UTC).replace(microsecond=0)
    t = [(now - timedelta(minutes=k)).isoformat() for k in (3, 2, 1)]
    body = (
        f'{{"points": [{{"t": "{t[0]}", "lat": 51.16, "lon": 71.47, "altitude_m": NaN}},'
        f' {{"t": "{t[1]}", "lat": 51.16, "lon": 71.47, "speed_mps": Infinity}},'
        f' {{"t": "{t[2]}", "lat": NaN, "lon": 71.47}}]}}'
    )
    resp = client.post(
        "/api/v1/traces",
        data=body,
        headers={**monitored["headers"], "Content-Type": "application/json"},
    )
    assert resp.status_code == 202, resp.get_json()
    answer = resp.get_json()
    assert answer["accepted"] == 2 and [r["index"] for r in answer["rejected"]] == [2]
    assert [r.flags for r in _stored(db)] == [["implausible_field_dropped"]] * 2
    # Elsewhere they stay what RFC 8259 says: not JSON.
    other = client.post(
        "/api/v1/persons",
        data='{"surname": NaN}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert other.status_code == 400
