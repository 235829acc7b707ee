"""The check lane (backend/api/check_lane.py) answers a plain check exactly as Flask
does, writes the same rows, and passes everything else on to Flask untouched."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from backend.api import check_lane
from backend.app import create_app
from backend.services.register import checks
from tests import factories as f
from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

# What changes from one check to the next, whichever path answers it.
VARYING = {"check_id", "checked_at"}


@pytest.fixture
def lane(app: Any) -> Iterator[Any]:
    found = app.extensions["qonys.check_lane"]
    yield found
    found.enabled = True


def _both(client: Any, lane: Any, body: Any, headers: dict[str, str]) -> tuple[Any, Any]:
    """The same request answered by the lane, then by Flask alone; each path asserted."""
    taken = lane.taken
    first = client.post("/api/v1/checks", json=body, headers=headers)
    assert lane.taken == taken + 1, "the lane did not take a plain check"
    lane.enabled = False
    try:
        second = client.post("/api/v1/checks", json=body, headers=headers)
    finally:
        lane.enabled = True
    assert lane.taken == taken + 1
    return first, second


def _stored(db: Any, answer: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stored check and its audit rows (found by the answer's request id), without
    what differs between two requests."""
    with db.engine.connect() as conn:
        check = conn.execute(
            text(
                "SELECT token_id, person_id, query_kind, verdict, reasons, region_kato,"
                " ST_AsText(geom) AS geom FROM officer_checks WHERE id = :i"
            ),
            {"i": answer.get_json()["check_id"]},
        ).one()
        audit = conn.execute(
            text(
                "SELECT actor, role, action, subject_person_id, purpose, client_request_id"
                " FROM audit_log WHERE request_id = CAST(:r AS uuid) ORDER BY id"
            ),
            {"r": answer.headers["X-Request-Id"]},
        ).all()
    return dict(check._mapping), [dict(a._mapping) for a in audit]


def _people(client: Any, admin: Any) -> list[dict[str, Any]]:
    """An ok person, one with violations and a late registration, one registered in
    Almaty (outside an Astana officer's scope), and an IIN nobody holds."""
    fine = f.person(client, admin)
    f.registration(client, admin, fine["id"])
    f.permit(client, admin, fine["id"])
    late = f.person(client, admin)
    f.registration(client, admin, late["id"], valid_from="2025-01-01", valid_to="2025-03-01")
    f.permit(client, admin, late["id"], valid_from="2025-01-01", valid_to="2025-06-30")
    away = f.person(client, admin)
    f.registration(client, admin, away["id"], location=f.ALMATY)
    return [fine, late, away, {"iin": f.valid_iin(sex="F")}]


def test_the_lane_answers_and_stores_as_flask_does(
    client: Any, admin: Any, token: Any, db: Any, lane: Any
) -> None:
    officers = [token("officer"), token("officer", region_kato=f.ASTANA_KATO)]
    for person in _people(client, admin):
        for officer in officers:
            for place in (f.ASTANA, f.PAVLODAR):
                if officer is officers[1] and place is f.PAVLODAR:
                    continue  # another region: refused (below)
                headers = {**officer, "X-Request-Id": "app-7"}
                body = {"iin": person["iin"], "location": place}
                fast, slow = _both(client, lane, body, headers)
                assert fast.status_code == slow.status_code == 200
                a, b = fast.get_json(), slow.get_json()
                assert {k: v for k, v in a.items() if k not in VARYING} == {
                    k: v for k, v in b.items() if k not in VARYING
                }
                assert list(a) == list(b)  # the same keys in the same order
                assert fast.data.endswith(b"\n") and slow.data.endswith(b"\n")
                assert sorted(fast.headers.keys()) == sorted(slow.headers.keys())
                same = {"Content-Length", "X-Request-Id"}
                assert {k: v for k, v in fast.headers.items() if k not in same} == {
                    k: v for k, v in slow.headers.items() if k not in same
                }
                assert fast.headers["X-Request-Id"] != slow.headers["X-Request-Id"]
                check, audit = _stored(db, fast)
                assert (check, audit) == _stored(db, slow)
                assert len(audit) == 1 and audit[0]["action"] == "person.check"
                assert audit[0]["client_request_id"] == "app-7"


def _plain(person: dict[str, Any]) -> dict[str, Any]:
    return {"iin": person["iin"], "location": f.ASTANA}


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("a wrong check digit", lambda b, h: ({**b, "iin": b["iin"][:11] + "0"}, h)),
        ("not 12 digits", lambda b, h: ({**b, "iin": b["iin"] + "\n"}, h)),
        ("another key", lambda b, h: ({**b, "document_country": "UZB"}, h)),
        ("a number as text", lambda b, h: ({**b, "location": {"lat": "51.1", "lon": 71.4}}, h)),
        ("out of range", lambda b, h: ({**b, "location": {"lat": 91, "lon": 71.4}}, h)),
        ("abroad", lambda b, h: ({**b, "location": f.BISHKEK}, h)),
        ("no token", lambda b, h: (b, {})),
        ("a made-up token", lambda b, h: (b, {"Authorization": "Bearer qny_nothing"})),
        ("a document instead", lambda b, h: ({"document_number": "FA1", "location": f.ASTANA}, h)),
    ],
)
def test_anything_not_plain_is_answered_by_flask_as_before(
    client: Any, admin: Any, token: Any, lane: Any, why: str, change: Any
) -> None:
    person = f.person(client, admin)
    body, headers = change(_plain(person), token("officer"))
    taken = lane.taken
    lane.enabled = False
    before = client.post("/api/v1/checks", json=body, headers=headers)
    lane.enabled = True
    now = client.post("/api/v1/checks", json=body, headers=headers)
    assert lane.taken == taken, why
    assert now.status_code == before.status_code, why
    assert now.mimetype == before.mimetype, why
    per_request = {"request_id", "instance", "check_id", "checked_at"}
    assert {k: v for k, v in now.get_json().items() if k not in per_request} == {
        k: v for k, v in before.get_json().items() if k not in per_request
    }, why


def test_a_wrong_role_and_other_bodies_go_to_flask(
    client: Any, admin: Any, token: Any, lane: Any
) -> None:
    person = f.person(client, admin)
    raw = json.dumps(_plain(person))
    officer = token("officer")
    taken = lane.taken
    answers = [
        client.post("/api/v1/checks", json=_plain(person), headers=token("analyst")),
        client.post(
            "/api/v1/checks",
            data=raw,
            headers={**officer, "Content-Type": "application/json; charset=utf-8"},
        ),
        client.post(
            "/api/v1/checks?x=1", data=raw, headers={**officer, "Content-Type": "application/json"}
        ),
        client.post(
            "/api/v1/checks", data=raw[:-1], headers={**officer, "Content-Type": "application/json"}
        ),
        client.post(
            "/api/v1/checks",
            data='{"iin": ' + "[" * 3000,
            headers={**officer, "Content-Type": "application/json"},
        ),
    ]
    client.set_cookie("qonys_session", "not-signed")  # a browser's: the session is Flask's
    answers.append(client.post("/api/v1/checks", json=_plain(person), headers=officer))
    assert lane.taken == taken
    assert [a.status_code for a in answers] == [403, 200, 200, 400, 400, 200]
    assert all(a.mimetype in ("application/json", "application/problem+json") for a in answers)


def test_the_api_limit_counts_each_check_once_on_either_path(
    migrated: Any, admin: Any, token: Any, client: Any
) -> None:
    """3 a minute: a plain check counted by the lane, a refused one the lane passed on
    after counting (abroad: Flask's 422), one Flask took whole; the fourth is over. The
    leases' clock is held mid-minute: a minute that turned before the fourth (the
    Citus pass once took that long) let it through as the next window's first."""
    person = f.person(client, admin)
    app = create_app(replace(migrated, api_rate_limit="3/minute"))
    noon = time.time() // 86400 * 86400 + 43200 + 30
    app.extensions["qonys.rate_leases"].clock = lambda: noon
    limited, lane = app.test_client(), app.extensions["qonys.check_lane"]
    officer = token("officer")
    codes = [
        limited.post("/api/v1/checks", json=_plain(person), headers=officer).status_code,
        limited.post(
            "/api/v1/checks", json={**_plain(person), "location": f.BISHKEK}, headers=officer
        ).status_code,
        limited.post(
            "/api/v1/checks", json={**_plain(person), "extra": 1}, headers=officer
        ).status_code,
    ]
    over = limited.post("/api/v1/checks", json=_plain(person), headers=officer)
    assert codes == [200, 422, 422] and lane.taken == 1
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert over.mimetype == "application/problem+json"
    app.extensions["qonys.db"].dispose()


def test_a_fault_after_the_check_was_stored_is_a_500_and_never_a_second_check(
    client: Any, admin: Any, token: Any, db: Any, lane: Any, monkeypatch: Any
) -> None:
    person = f.person(client, admin)
    monkeypatch.setattr(lane, "schema", h.BrokenSchema())
    resp = client.post("/api/v1/checks", json=_plain(person), headers=token("officer"))
    assert resp.status_code == 500 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["request_id"] == resp.headers["X-Request-Id"]
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM officer_checks WHERE person_id = :p"), {"p": person["id"]}
        ).scalar_one()
    assert stored == 1


@pytest.mark.parametrize(
    "spelling",
    [
        "Bearer {}",
        "bearer {}",
        "BEARER {}",
        "Bearer  {}",
        "Bearer\t{}",
        "Bearer\xa0{}",
        "Bearer {}\xa0",
        "Token {}",
    ],
)
def test_the_authorization_header_is_read_as_flask_reads_it(
    client: Any, admin: Any, token: Any, lane: Any, spelling: str
) -> None:
    """The lane takes a token only where Flask-HTTPAuth (werkzeug's parsing) would."""
    person = f.person(client, admin)
    secret = token("officer")["Authorization"].split()[1]
    headers = {"Authorization": spelling.format(secret)}
    lane.enabled = False
    flask_alone = client.post("/api/v1/checks", json=_plain(person), headers=headers)
    lane.enabled = True
    taken = lane.taken
    now = client.post("/api/v1/checks", json=_plain(person), headers=headers)
    assert now.status_code == flask_alone.status_code
    assert lane.taken == taken + (1 if now.status_code == 200 else 0)


def test_an_outage_is_answered_once_by_flasks_handlers(
    client: Any, admin: Any, token: Any, lane: Any, monkeypatch: Any
) -> None:
    """The database gone under a check: 503 with Retry-After, as Flask answers it, and the
    check is not run a second time through Flask."""
    person = f.person(client, admin)
    calls: list[int] = []

    def gone(*_args: Any, **_kwargs: Any) -> Any:
        calls.append(1)
        raise OperationalError("SELECT", {}, psycopg2.OperationalError("server closed"))

    monkeypatch.setattr(checks, "run_check", gone)
    resp = client.post("/api/v1/checks", json=_plain(person), headers=token("officer"))
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.get_json()["request_id"] == resp.headers["X-Request-Id"]
    assert calls == [1]


def test_over_the_second_window_the_first_is_not_counted_twice(
    migrated: Any, admin: Any, token: Any, client: Any
) -> None:
    """3 a day and 1 a minute: the second check in a minute is over the minute's window;
    the day's count must not be spent twice for it, or the next minute's check (the
    third of the day) would be refused."""
    person = f.person(client, admin)
    app = create_app(replace(migrated, api_rate_limit="3/day;1/minute"))
    leases = app.extensions["qonys.rate_leases"]
    noon = time.time() // 86400 * 86400 + 43200 + 30  # half a minute into a minute
    leases.clock = lambda: noon
    limited, officer = app.test_client(), token("officer")
    first = limited.post("/api/v1/checks", json=_plain(person), headers=officer)
    over = limited.post("/api/v1/checks", json=_plain(person), headers=officer)
    leases.clock = lambda: noon + 60
    next_minute = limited.post("/api/v1/checks", json=_plain(person), headers=officer)
    assert [first.status_code, over.status_code, next_minute.status_code] == [200, 429, 200]
    assert over.headers["Retry-After"] == "30"  # the minute's window
    assert app.extensions["qonys.check_lane"].taken == 2
    app.extensions["qonys.db"].dispose()


def test_the_lane_counts_under_the_flask_views_own_name(app: Any) -> None:
    """The limit's key names the view: renaming it would split a token's budget in two."""
    [rule] = [r for r in app.url_map.iter_rules() if r.rule == check_lane.PATH]
    assert rule.endpoint == check_lane.ENDPOINT and "POST" in (rule.methods or ())
