"""The outbox: written with the event, delivered once through Redis outages, killed
workers and failing receivers; retried with backoff, dead after the last try, re-sent."""

from __future__ import annotations

import json
import os
import signal
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from standardwebhooks import Webhook

from backend import clock
from backend.app import create_app
from backend.jobs import outbox as outbox_jobs
from backend.models import OutboxMessage
from backend.schemas import PersonIn
from backend.services import events
from backend.services.notify import outbox
from backend.services.notify.channels import SENDERS
from backend.services.register import persons
from tests import factories as f
from tests import helpers as h
from tests.receivers import http_receiver


def _subscribe(client: Any, admin: Any, url: str, *kinds: str) -> dict[str, Any]:
    resp = client.post("/api/v1/webhooks", json={"url": url, "events": list(kinds)}, headers=admin)
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def _rows(db: Any) -> list[OutboxMessage]:
    with db.transaction() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for r in rows:
            session.expunge(r)
        return rows


PERSON = {
    "surname": "Каримов",
    "given_name": "Шерзод",
    "birth_date": "1990-05-17",
    "sex": "M",
    "citizenship": "UZB",
    "category": "labour_immigrant",
    "document": {"type": "passport", "number": "FA7654321"},
}


def test_a_committed_event_is_delivered_once_and_verifies(
    app: Any, client: Any, admin: Any
) -> None:
    with http_receiver() as receiver:
        sub = _subscribe(client, admin, receiver.url, "person.registered")
        assert sub["secret"].startswith("whsec_")
        person = f.person(client, admin)
        h.run_jobs(app)  # the delivery the commit asked for
        h.run_jobs(app)
    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    body = Webhook(sub["secret"]).verify(got.body, got.headers)
    assert body["type"] == "person.registered"
    assert body["data"] == {"person_id": person["id"], "category": "labour_immigrant"}
    # Ids and states only: nothing that names the person.
    assert person["iin"] not in got.body.decode() and "Каримов" not in got.body.decode()


def test_a_rolled_back_event_sends_nothing(app: Any, client: Any, admin: Any, db: Any) -> None:
    with http_receiver() as receiver:
        _subscribe(client, admin, receiver.url, "person.registered")
        with pytest.raises(RuntimeError), db.transaction() as session:
            person = persons.create_person(session, PersonIn().load(PERSON))
            events.person_registered(session, person)
            raise RuntimeError("the request failed after the event")
        outbox_jobs.dispatch(queue=app.extensions["qonys.queue"])
        h.run_jobs(app)
    assert _rows(db) == [] and receiver.requests == []


def test_a_receiver_down_for_a_minute_gets_the_event_once(
    app: Any, client: Any, admin: Any, db: Any, migrated: Any
) -> None:
    """Time is the backoff schedule's (5 s, 20 s, 80 s …), not a real minute's wait."""
    start = now = clock.now()

    def up(_: int) -> int:
        return 200 if now - start >= timedelta(minutes=1) else 500

    with http_receiver(status=up) as receiver:
        sub = _subscribe(client, admin, receiver.url, "person.registered")
        f.person(client, admin)
        [row] = _rows(db)
        start = now = row.next_attempt_at  # the event's moment: down from here on
        while True:
            status = outbox.deliver(db, migrated, row.id, SENDERS, now)
            if status != "pending":
                break
            [row] = _rows(db)
            now = row.next_attempt_at  # the next try, when the backoff says
    assert status == "delivered"
    assert [r.answered for r in receiver.requests] == [500, 500, 500, 200]
    # Waits of 5, 20 and 80 s: the fourth try is the first after the minute.
    assert now - start == timedelta(seconds=105)
    assert len(receiver.accepted()) == 1
    assert {r.headers["webhook-id"] for r in receiver.requests} == {row.message_id}
    Webhook(sub["secret"]).verify(receiver.requests[-1].body, receiver.requests[-1].headers)


def test_the_last_failed_try_is_dead_listed_and_sent_again(
    app: Any, client: Any, admin: Any, db: Any, migrated: Any
) -> None:
    settings = replace(migrated, outbox_max_attempts=3)
    answers = iter([500, 500, 503, 200])
    with http_receiver(status=lambda _: next(answers)) as receiver:
        _subscribe(client, admin, receiver.url, "person.registered")
        f.person(client, admin)
        [row] = _rows(db)
        now = clock.now()
        for _ in range(3):
            outbox.deliver(db, settings, row.id, SENDERS, now)
            now += timedelta(hours=7)
        [row] = _rows(db)
        assert row.status == "dead" and row.attempts == 3 and "503" in (row.last_error or "")
        listed = client.get("/api/v1/outbox?status=dead", headers=admin).get_json()
        assert [m["id"] for m in listed["items"]] == [row.id] and listed["counts"]["dead"] == 1
        assert client.post(f"/api/v1/outbox/{row.id}/resend", headers=admin).status_code == 200
        again = client.post(f"/api/v1/outbox/{row.id}/resend", headers=admin)
        assert again.status_code == 409  # pending already
        h.run_jobs(app)
    [row] = _rows(db)
    assert row.status == "delivered"
    assert {r.headers["webhook-id"] for r in receiver.requests} == {row.message_id}
    assert len(receiver.accepted()) == 1


def test_a_redis_outage_delays_but_loses_nothing(
    migrated: Any, client: Any, admin: Any, db: Any, app: Any
) -> None:
    with http_receiver() as receiver:
        _subscribe(client, admin, receiver.url, "person.registered")
        down = create_app(replace(migrated, redis_url="redis://127.0.0.1:1/0"))
        try:
            resp = down.test_client().post("/api/v1/persons", json=PERSON, headers=admin)
        finally:
            down.extensions["qonys.db"].dispose()
        assert resp.status_code == 201, resp.get_json()
        assert app.extensions["qonys.queue"].count == 0  # the kick never reached Redis
        [row] = _rows(db)
        assert row.status == "pending"
        # Redis is back: the periodic dispatch finds the row by the database alone.
        assert outbox_jobs.dispatch(queue=app.extensions["qonys.queue"]) == 1
        assert (
            outbox_jobs.dispatch(queue=app.extensions["qonys.queue"]) == 1
        )  # twice enqueued, still sent once
        h.run_jobs(app)
    assert len(receiver.requests) == 1
    assert _rows(db)[0].status == "delivered"


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listed:
        return [int(p) for p in listed.read().split()]


def test_a_worker_killed_mid_delivery_delivers_once(
    app: Any, client: Any, admin: Any, db: Any, migrated: Any
) -> None:
    hold = threading.Event()
    with http_receiver(hold=hold) as receiver:
        sub = _subscribe(client, admin, receiver.url, "person.registered")
        f.person(client, admin)
        [row] = _rows(db)
        worker = h.worker_process(migrated.redis_url, app.extensions["qonys.queue"].name)
        try:
            assert receiver.arrived.wait(60), "the worker never sent the webhook"
        finally:
            # Mid-request, no answer read: the worker and its work horse (RQ starts the
            # horse in a session of its own, out of the worker's process group).
            for pid in _children(worker.pid):
                os.kill(pid, signal.SIGKILL)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        receiver.requests.clear()  # that request's answer never reached the sender
        receiver.hold = None
        hold.set()
        [row] = _rows(db)
        assert row.status == "pending" and row.attempts == 1
        # Nobody settles the row; when its lease runs out, a try with the same key.
        assert outbox.deliver(db, migrated, row.id, SENDERS) == "skipped"  # leased
        later = clock.now() + timedelta(seconds=migrated.outbox_lease_s + 1)
        assert outbox.deliver(db, migrated, row.id, SENDERS, later) == "delivered"
        assert outbox.deliver(db, migrated, row.id, SENDERS, later) == "skipped"
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["webhook-id"] == row.message_id
    Webhook(sub["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert _rows(db)[0].status == "delivered"


def test_a_deleted_subscription_cancels_what_waits(
    app: Any, client: Any, admin: Any, db: Any, migrated: Any
) -> None:
    with http_receiver() as receiver:
        sub = _subscribe(client, admin, receiver.url, "person.registered")
        listed = client.get("/api/v1/webhooks", headers=admin).get_json()["items"]
        assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
        f.person(client, admin)
        assert client.delete(f"/api/v1/webhooks/{sub['id']}", headers=admin).status_code == 204
        assert client.get("/api/v1/webhooks", headers=admin).get_json()["items"] == []
        h.run_jobs(app)
    assert receiver.requests == [] and _rows(db)[0].status == "cancelled"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "not a url", "events": ["person.registered"]}, "url"),
        ({"url": "http://127.0.0.1/x", "events": ["person.nothing"]}, "events"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_field(
    client: Any, admin: Any, body: dict[str, Any], field: str
) -> None:
    resp = client.post("/api/v1/webhooks", json=body, headers=admin)
    assert resp.status_code in (400, 422) and resp.mimetype == "application/problem+json"
    assert field in json.dumps(resp.get_json())


def test_only_admins_manage_webhooks_and_the_outbox(client: Any, token: Any) -> None:
    analyst = token("analyst")
    assert client.get("/api/v1/webhooks", headers=analyst).status_code == 403
    assert client.get("/api/v1/outbox", headers=analyst).status_code == 403


def test_the_openapi_document_describes_the_events(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    hooks = spec["x-webhooks"]
    assert "permit.issued" in hooks and "alert.opened" in hooks
    data = hooks["permit.issued"]["post"]["requestBody"]["content"]["application/json"]
    assert "permit_id" in data["schema"]["properties"]["data"]["properties"]
    assert "/api/v1/webhooks" in spec["paths"]


def test_backoff_grows_fourfold_to_its_cap(migrated: Any) -> None:
    waits = [outbox.backoff(migrated, n).total_seconds() for n in range(1, 9)]
    assert waits[:4] == [5, 20, 80, 320] and waits[-1] == migrated.outbox_backoff_max_s


def test_the_outbox_write_is_in_the_event_transaction(db: Any) -> None:
    with db.transaction() as session:
        outbox.add(session, "email", "test", "a@example.org", {"template": "alert.sos"})
        seen = session.execute(text("SELECT count(*) FROM outbox")).scalar_one()
        session.execute(update(OutboxMessage).values(status="cancelled"))
    assert seen == 1
