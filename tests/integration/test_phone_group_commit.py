"""Group commit of phone points (issue 27): concurrent requests share one statement.

The requests are real ``ingest_phone`` calls on the real database, from threads as
gunicorn's run them. To make requests arrive while a write is under way, a second
connection holds a lock on the token rows of as many devices as the group has writers:
their writes wait on it (their statements also mark the devices' last contact) while the
others queue behind them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from backend.services.access.tokens import Principal, verify_token
from backend.services.tracking import phone_ingest
from backend.services.tracking.phone_ingest import PhoneOutcome, group_of, ingest_phone
from backend.services.tracking.trace_points import FLAG_BACKFILLED, Point
from tests import factories as f
from tests import helpers as h

NOW = datetime.now(UTC).replace(microsecond=0)


def _devices(client: Any, admin: Any, token: Any, db: Any, n: int) -> list[Principal]:
    devices = []
    for _ in range(n):
        person = f.person(client, admin)
        secret = token("device", person_id=person["id"])["Authorization"].split()[1]
        with db.transaction() as session:
            who = verify_token(session, secret)
        assert who is not None
        devices.append(who)
    return devices


def _point(who: Principal, k: int = 0) -> Point:
    return Point(who.device_person, NOW - timedelta(minutes=5, seconds=-k), 51.16, 71.47, 8.0)


@contextmanager
def _holding_token_rows(db: Any, held: list[Principal]) -> Iterator[None]:
    """Keep the devices' token rows locked: a write that marks their contact waits."""
    with db.engine.connect() as conn, conn.begin():
        conn.execute(
            text("SELECT 1 FROM api_tokens WHERE id = ANY(:ids) FOR UPDATE"),
            {"ids": [who.token_id for who in held]},
        )
        yield


def _send(db: Any, app: Any, who: Principal, points: list[Point], out: list[Any]) -> None:
    try:
        out[0] = ingest_phone(
            db, who, points, "osmand", app.extensions["qonys.settings"], str(uuid.uuid4()),
            lambda: "GET /api/v1/traces/osmand",
        )  # fmt: skip
    except Exception as exc:  # the test asserts there is none
        out[0] = exc


def _wait_for_queue(db: Any, n: int) -> None:
    group = group_of(db)
    h.wait_for(lambda: group.waiting() >= n, timeout=5, every=0.01)


_WAITING_ON_A_LOCK = text(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
    " WHERE NOT l.granted AND a.datname = current_database() AND a.application_name = 'qonys'"
)


def _wait_for_lock_waits(db: Any, n: int) -> None:
    """Until ``n`` writes wait on the held rows."""

    def waiting() -> bool:
        with db.engine.connect() as conn:
            return conn.execute(_WAITING_ON_A_LOCK).scalar_one() >= n

    h.wait_for(waiting, timeout=5, every=0.01)


def _holders(client: Any, admin: Any, token: Any, db: Any) -> list[Principal]:
    """A device for each write the process's group may have under way at once."""
    return _devices(client, admin, token, db, group_of(db).writers)


def _run_behind_held_writes(
    app: Any,
    db: Any,
    held: list[tuple[Principal, list[Point]]],
    rest: list[tuple[Principal, list[Point]]],
    every_device_due: bool = True,
) -> list[Any]:
    """The ``held`` requests' writes (one per writer of the group) wait on a lock while
    ``rest`` queue; then all go. The outcome of each request, in order (held, then rest).
    The held devices must be due their contact mark: that is what their writes wait on."""
    assert len(held) == group_of(db).writers
    if every_device_due:
        phone_ingest.WINDOWS.clear()  # every device is due its contact mark and audit row
    out: list[list[Any]] = [[None] for _ in range(len(held) + len(rest))]
    with _holding_token_rows(db, [who for who, _ in held]):
        leaders = [
            threading.Thread(target=_send, args=(db, app, w, p, slot))
            for (w, p), slot in zip(held, out, strict=False)
        ]
        for thread in leaders:
            thread.start()
            _wait_for_lock_waits(db, leaders.index(thread) + 1)  # inside its statement
        followers = [
            threading.Thread(target=_send, args=(db, app, w, p, slot))
            for (w, p), slot in zip(rest, out[len(held) :], strict=True)
        ]
        for thread in followers:
            thread.start()
        _wait_for_queue(db, len(rest))
    for thread in [*leaders, *followers]:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a request never got its answer"
    return [slot[0] for slot in out]


def _stored(db: Any, person_ids: list[int]) -> dict[int, int]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT person_id, count(*) FROM trace_points WHERE person_id = ANY(:p)"
                " GROUP BY person_id"
            ),
            {"p": person_ids},
        )
        return {person: n for person, n in rows}


@pytest.mark.citus  # also run on a Citus cluster (tests/citus_suites.py)
def test_requests_arriving_during_a_write_share_the_next_statement(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    held = _holders(client, admin, token, db)
    devices = held + _devices(client, admin, token, db, 8)
    first_row = _last_audit_id(db)  # the audit trail is append-only: count from here
    group = group_of(db)
    writes, sizes = group.stats.writes, dict(group.stats.sizes)
    out = _run_behind_held_writes(
        app, db, [(w, [_point(w)]) for w in held], [(w, [_point(w)]) for w in devices[len(held) :]]
    )
    assert all(isinstance(o, PhoneOutcome) for o in out), out
    assert [o.stored for o in out] == [1] * len(devices)
    assert _stored(db, [w.device_person for w in devices]) == {w.device_person: 1 for w in devices}
    # One statement for each held write, then one for the eight that queued behind them.
    assert group.stats.writes - writes == len(held) + 1
    assert group.stats.sizes[1] == sizes.get(1, 0) + len(held)
    assert group.stats.sizes[8] == sizes.get(8, 0) + 1
    with db.engine.connect() as conn:
        audited = conn.execute(
            text(
                "SELECT subject_person_id, request_id FROM audit_log"
                " WHERE action = 'traces.ingest.osmand' AND id > :first"
            ),
            {"first": first_row},
        ).all()
        contact = conn.execute(
            text("SELECT count(*) FROM api_tokens WHERE id = ANY(:t) AND last_seen_at IS NOT NULL"),
            {"t": [w.token_id for w in devices]},
        ).scalar_one()
    # Each device has its own audit row, with its own request's id, and its last contact.
    assert sorted(p for p, _ in audited) == sorted(w.device_person for w in devices)
    assert len({r for _, r in audited}) == len(devices) == contact


def _last_audit_id(db: Any) -> int:
    return int(h.scalars(db, "SELECT coalesce(max(id), 0) FROM audit_log")[0])


def _audit_rows(db: Any, after: int) -> list[int]:
    return h.scalars(
        db,
        "SELECT subject_person_id FROM audit_log"
        " WHERE action = 'traces.ingest.osmand' AND id > :after ORDER BY id",
        after=after,
    )


@pytest.mark.citus  # also run on a Citus cluster (tests/citus_suites.py)
def test_only_devices_due_are_audited_and_marked_and_a_group_with_none_due_stores(
    app: Any, db: Any, client: Any, admin: Any, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group of writes with no device due for its audit row or contact mark runs the
    statement without those parts, and stores its points; devices due are audited and
    marked once each."""
    holders = _holders(client, admin, token, db)
    phones = _devices(client, admin, token, db, 3)
    first_row = _last_audit_id(db)
    out = _run_behind_held_writes(
        app, db, [(w, [_point(w)]) for w in holders], [(w, [_point(w)]) for w in phones]
    )  # every device due
    assert [o.stored for o in out] == [1] * (len(holders) + 3)
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET last_seen_at = NULL WHERE id = ANY(:t)"),
            {"t": [w.token_id for w in phones]},
        )
    points_only: list[int] = []  # writes the statement without audit and contact took
    plain = phone_ingest._WRITES[False, False]  # several points, no device due
    real = plain.rows
    monkeypatch.setattr(
        plain,
        "rows",
        lambda conn, params: points_only.append(len(params["p"])) or real(conn, params),
    )
    # Within the window: the holders made due again (their writes wait on the lock), two
    # phones queue behind them as one group with no device due.
    for holder in holders:
        phone_ingest.WINDOWS.forget(holder.token_id)
    out = _run_behind_held_writes(
        app,
        db,
        [(w, [_point(w, 30)]) for w in holders],
        [(w, [_point(w, 30)]) for w in phones[1:]],
        every_device_due=False,
    )
    assert [o.stored for o in out] == [1] * (len(holders) + 2) and points_only == [2]
    phone_ingest.WINDOWS.forget(phones[0].token_id)  # due again, alone
    alone: list[Any] = [None]
    _send(db, app, phones[0], [_point(phones[0], 30)], alone)
    assert alone[0].stored == 1 and points_only == [2]
    stored = _stored(db, [w.device_person for w in [*holders, *phones]])
    assert stored == {w.device_person: 2 for w in [*holders, *phones]}
    audited = _audit_rows(db, first_row)
    expected = [*holders, *phones, *holders, phones[0]]
    assert sorted(audited) == sorted(w.device_person for w in expected)
    with db.engine.connect() as conn:
        marked = conn.execute(
            text("SELECT id FROM api_tokens WHERE id = ANY(:t) AND last_seen_at IS NOT NULL"),
            {"t": [w.token_id for w in phones]},
        ).scalars()
        assert set(marked) == {phones[0].token_id}


def test_a_write_that_failed_leaves_its_device_due_its_audit_row(
    app: Any, db: Any, client: Any, admin: Any, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database was unreachable for a write that carried the device's audit row:
    the phone's resend carries it again, not the next window's."""
    (phone,) = _devices(client, admin, token, db, 1)
    first_row = _last_audit_id(db)
    phone_ingest.WINDOWS.clear()
    down = OperationalError("EXECUTE", {}, Exception("the database is unreachable"))

    def unreachable(conn: Any, params: Any) -> Any:
        raise down

    for statement in phone_ingest._WRITES.values():
        monkeypatch.setattr(statement, "rows", unreachable)
    failed: list[Any] = [None]
    _send(db, app, phone, [_point(phone)], failed)
    assert failed[0] is down
    monkeypatch.undo()
    resent: list[Any] = [None]
    _send(db, app, phone, [_point(phone)], resent)
    assert resent[0].stored == 1
    assert _audit_rows(db, first_row) == [phone.device_person]


@pytest.mark.citus  # also run on a Citus cluster (tests/citus_suites.py)
def test_a_point_sent_twice_in_one_group_is_stored_once(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    """A phone that resends before its answer came: both requests in one statement."""
    holders = _holders(client, admin, token, db)
    (phone,) = _devices(client, admin, token, db, 1)
    same = [_point(phone, 7)]
    held = [(w, [_point(w)]) for w in holders]
    out = _run_behind_held_writes(app, db, held, [(phone, same)] * 2)[len(holders) :]
    assert sorted((o.stored, o.duplicates) for o in out) == [(0, 1), (1, 0)]
    assert _stored(db, [phone.device_person]) == {phone.device_person: 1}


def test_a_device_whose_person_is_gone_costs_only_its_own_request(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    """The shared write fails on the missing person: each request is written again alone,
    the others are stored and the gone one is refused (kept as a refusal, never a 500).
    Plain PostgreSQL only: on Citus no foreign key refuses a gone person's point."""
    holders = _holders(client, admin, token, db)
    devices = _devices(client, admin, token, db, 3)
    gone = devices[1]
    with db.engine.begin() as conn:  # the person leaves the register; the principal stays
        conn.execute(text("DELETE FROM persons WHERE id = :p"), {"p": gone.device_person})
    group = group_of(db)
    split = group.stats.split
    out = _run_behind_held_writes(
        app, db, [(w, [_point(w)]) for w in holders], [(w, [_point(w)]) for w in devices]
    )
    assert group.stats.split == split + 1
    assert [o.stored for o in out] == [1] * len(holders) + [1, 0, 1]
    assert out[len(holders) + 1].refused == ["the device's person is no longer in the register"]
    with db.engine.connect() as conn:
        refusals = conn.execute(
            text("SELECT count(*) FROM trace_refusals WHERE token_id = :t"), {"t": gone.token_id}
        ).scalar_one()
    assert refusals == 1


def test_a_shared_write_waits_for_a_row_lock_five_seconds_at_most(db: Any) -> None:
    """Writes held by a lock hold every phone request of the process behind them: the
    statements of the autocommit engine give up after 5 s (503, and the phone resends)."""
    with db.autocommit.connect() as conn:
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "5s"


@pytest.mark.citus  # also run on a Citus cluster (tests/citus_suites.py)
def test_a_back_dated_point_is_flagged_by_its_own_request_in_a_shared_write(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    """A back-dated point cannot hide among live ones: sent two hours after it was taken,
    it is ``backfilled`` (no live evidence) though written in the same statement as a
    live point, which is not."""
    holders = _holders(client, admin, token, db)
    late, live = _devices(client, admin, token, db, 2)
    old = Point(late.device_person, NOW - timedelta(hours=2), 51.16, 71.47, 8.0)
    out = _run_behind_held_writes(
        app, db, [(w, [_point(w)]) for w in holders], [(late, [old]), (live, [_point(live)])]
    )
    assert [o.stored for o in out] == [1] * (len(holders) + 2)
    with db.engine.connect() as conn:
        flags = dict(
            conn.execute(
                text("SELECT person_id, flags FROM trace_points WHERE person_id = ANY(:p)"),
                {"p": [w.device_person for w in (*holders, late, live)]},
            ).all()
        )
    assert flags[late.device_person] == [FLAG_BACKFILLED]
    assert not any(flags[w.device_person] for w in (*holders, live))


@pytest.mark.citus  # also run on a Citus cluster (tests/citus_suites.py)
def test_a_point_written_alone_is_stored_as_one_written_in_a_group(
    app: Any, db: Any, client: Any, admin: Any, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write of one point sends it as plain values, a group as arrays (two statements
    from one text, ``phone_ingest._WRITES``): every field, null or not, lands alike."""
    alone_device, grouped, other = _devices(client, admin, token, db, 3)
    settings = app.extensions["qonys.settings"]
    used: list[tuple[bool, bool]] = []
    for key, statement in phone_ingest._WRITES.items():
        real = statement.rows
        monkeypatch.setattr(
            statement,
            "rows",
            lambda conn, params, key=key, real=real: used.append(key) or real(conn, params),
        )

    def write(who: Principal, point: Point, touch: bool) -> phone_ingest.PhoneWrite:
        return phone_ingest.PhoneWrite(
            db, who, [point], "traccar", str(uuid.uuid4()), NOW, touch, touch, settings
        )

    def full(who: Principal) -> Point:
        return Point(
            who.device_person, NOW - timedelta(hours=2), 51.16, 71.47, 8.0, 1.5, 90.0, 347.0,
            55.0, {"alarm": "sos", "ім'я": "Қоныс"}, ["poor_accuracy", "mock_location"],
        )  # fmt: skip

    def bare(who: Principal) -> Point:
        return Point(who.device_person, NOW - timedelta(minutes=1), 51.17, 71.48)

    for make in (full, bare):
        assert phone_ingest._write_together([write(alone_device, make(alone_device), False)])
        assert phone_ingest._write_together(
            [write(grouped, make(grouped), True), write(other, make(other), False)]
        ) == [1, 1]
    assert used == [(True, False), (False, True)] * 2
    columns = (
        "recorded_at, received_at, ST_AsText(geom), accuracy_m, speed_mps, bearing_deg,"
        " altitude_m, battery_pct, source, attributes, flags"
    )
    rows = {}
    with db.engine.connect() as conn:
        for who in (alone_device, grouped):
            rows[who.device_person] = conn.execute(
                text(
                    f"SELECT {columns} FROM trace_points WHERE person_id = :p ORDER BY recorded_at"
                ),
                {"p": who.device_person},
            ).all()
    assert rows[alone_device.device_person] == rows[grouped.device_person]
    sent_full, sent_bare = rows[alone_device.device_person]
    assert sent_full[-2:] == (
        {"alarm": "sos", "ім'я": "Қоныс"}, ["poor_accuracy", "mock_location", FLAG_BACKFILLED]
    )  # fmt: skip
    assert sent_full[3:8] == (8.0, 1.5, 90.0, 347.0, 55.0)
    assert sent_bare[3:8] == (None,) * 5 and sent_bare[-2:] == (None, None)


@pytest.mark.citus  # also run on a Citus cluster (tests/citus_suites.py)
def test_phones_resending_from_many_threads_store_each_point_once(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    """Eight threads, four devices, each point sent twice (a phone that resends before its
    answer came): the writes under way at once and the groups behind them meet the same
    persons in any order, and every point is stored once, every request answered."""
    devices = _devices(client, admin, token, db, 4)
    # Each point twice in a row: the copies are written at once, in one group or two.
    sends = [(w, [_point(w, k)]) for k in range(40) for w in devices for _copy in (1, 2)]
    out: list[list[Any]] = [[None] for _ in sends]
    with ThreadPoolExecutor(8) as pool:
        for (who, points), slot in zip(sends, out, strict=True):
            pool.submit(_send, db, app, who, points, slot)
    outcomes = [slot[0] for slot in out]
    assert all(isinstance(o, PhoneOutcome) for o in outcomes), outcomes
    assert sum(o.stored for o in outcomes) == 160 and sum(o.duplicates for o in outcomes) == 160
    assert _stored(db, [w.device_person for w in devices]) == {w.device_person: 40 for w in devices}


def test_a_write_that_loses_a_deadlock_is_run_again_and_stores(
    app: Any, db: Any, client: Any, admin: Any, token: Any
) -> None:
    """Two writes of the same resent points, in other orders, can deadlock; PostgreSQL
    cancels one. A phone's write it cancelled is run once more, and the phone answered:
    here the other side holds the person's alert mark and then inserts the phone's point."""
    (phone,) = _devices(client, admin, token, db, 1)
    point = _point(phone, 11)
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO alert_dirty (person_id) VALUES (:p)"), {"p": point.person_id}
        )
    out: list[Any] = [None]
    with db.engine.connect() as other, other.begin() as held:
        other.execute(
            text("UPDATE alert_dirty SET marked_at = now() WHERE person_id = :p"),
            {"p": point.person_id},
        )
        sender = threading.Thread(target=_send, args=(db, app, phone, [point], out))
        sender.start()
        _wait_for_lock_waits(db, 1)  # the phone's write holds its new row, waits for the mark
        other.execute(  # waits for the phone's row: a cycle, and the phone's write loses it
            text(
                "INSERT INTO trace_points (person_id, recorded_at, received_at, geom, source)"
                " VALUES (:p, :t, now(), ST_SetSRID(ST_MakePoint(71.47, 51.16), 4326), 'test')"
            ),
            {"p": point.person_id, "t": point.t},
        )
        held.rollback()
    sender.join(timeout=30)
    assert not sender.is_alive()
    assert isinstance(out[0], PhoneOutcome) and out[0].stored == 1, out[0]
    assert _stored(db, [point.person_id]) == {point.person_id: 1}
