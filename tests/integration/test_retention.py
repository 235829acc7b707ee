"""Every kind of personal data goes after its own period; fresh data stays (one case each)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend import clock
from backend.jobs.housekeeping import enforce_retention
from backend.services import retention
from tests import factories as f

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus

OLD = "now() - interval '3 years'"
FRESH = "now() - interval '1 hour'"


def _seed(db: Any, person_id: int) -> None:
    """Two rows of every kind: one long past its period, one fresh."""
    with db.transaction() as session:
        for age in (OLD, FRESH):
            session.execute(
                text(
                    f"""
                    INSERT INTO trace_refusals (token_id, person_id, client, received_at,
                                                reason, raw)
                    VALUES (1, :p, 'osmand', {age}, 'latitude 95', 'lat=95');
                    INSERT INTO daily_presence VALUES (:p, CAST({age} AS date), '710000000', 3,
                                                       {age}, {age});
                    INSERT INTO alerts (person_id, kind, status, region_kato, details,
                                        opened_at, closed_at, close_reason)
                    VALUES (:p, 'residence_mismatch', 'closed', '710000000',
                            '{{"night": [51.1, 71.4]}}', {age}, {age}, 'checked');
                    INSERT INTO officer_checks (token_id, person_id, query_kind, verdict,
                                                reasons, region_kato, geom, checked_at)
                    VALUES (1, :p, 'iin', 'ok', '{{}}', '710000000',
                            ST_SetSRID(ST_MakePoint(71.4, 51.1), 4326), {age});
                    INSERT INTO idempotent_responses (caller, route, key, request_hash, status,
                                                      body, created_at)
                    VALUES ('token:1', '/api/v1/persons', 'k' || md5(CAST({age} AS text)),
                            'h', 201, '{{}}', {age});
                    INSERT INTO import_files (id, kind, sha256, content, token_id, created_at)
                    VALUES (gen_random_uuid(), 'persons', 's', 'iin,surname', 1, {age});
                    INSERT INTO map_artifacts (kind, html, bytes, gzip_bytes, data_date,
                                               params, created_at)
                    VALUES ('monitoring', 'x', 1, 1, current_date, '{{}}', {age});
                    INSERT INTO person_contacts (person_id, relation, phone, purpose,
                                                 consent_at, retain_until)
                    VALUES (:p, 'host', '+77011234567', 'reminders', {age},
                            CAST({age} AS date) + 365);
                    INSERT INTO outbox (message_id, channel, event_type, recipient, payload,
                                        status, created_at)
                    VALUES (gen_random_uuid(), 'sms', 'test', '+77011234567', '{{}}',
                            'delivered', {age});
                    """
                ),
                {"p": person_id},
            )
        session.execute(
            text(
                f"INSERT INTO trace_last_positions VALUES (:p, {OLD},"
                " ST_SetSRID(ST_MakePoint(71.4, 51.1), 4326), 10)"
            ),
            {"p": person_id},
        )


@pytest.mark.parametrize(
    ("kind", "left"),
    [
        ("last positions", "SELECT count(*) FROM trace_last_positions"),
        ("refused phone requests", "SELECT count(*) FROM trace_refusals"),
        ("daily presence", "SELECT count(*) FROM daily_presence"),
        ("closed alerts (with their coordinates)", "SELECT count(*) FROM alerts"),
        ("check locations", "SELECT count(*) FROM officer_checks WHERE geom IS NOT NULL"),
        ("idempotent responses", "SELECT count(*) FROM idempotent_responses"),
        ("uploaded files", "SELECT count(*) FROM import_files"),
        ("stored maps (the newest of each kind stays)", "SELECT count(*) FROM map_artifacts"),
        ("contacts of hosts and foreigners", "SELECT count(*) FROM person_contacts"),
        (
            "sent or abandoned messages (their recipients' addresses)",
            "SELECT count(*) FROM outbox",
        ),
    ],
)
def test_each_kind_goes_after_its_period(
    client: Any, admin: Any, db: Any, migrated: Any, kind: str, left: str
) -> None:
    person = f.person(client, admin)
    _seed(db, person["id"])
    with db.transaction() as session:
        done = retention.enforce(session, migrated)
    assert done[kind] == 1, done
    with db.engine.connect() as conn:
        # The fresh row of each kind stays (the last position was old: none is left).
        assert conn.scalar(text(left)) == (0 if kind == "last positions" else 1)
        if kind == "check locations":
            assert conn.scalar(text("SELECT count(*) FROM officer_checks")) == 2  # the act stays


def test_every_rule_has_a_period_and_the_job_runs_them(
    client: Any, admin: Any, db: Any, migrated: Any
) -> None:
    for rule in retention.RULES:
        assert getattr(migrated, rule.setting) > 0, rule.setting
    person = f.person(client, admin)
    _seed(db, person["id"])
    done = enforce_retention()
    assert set(done) == {rule.kind for rule in retention.RULES}
    assert all(n >= 1 for n in done.values()), done
    with db.transaction() as session:  # nothing is left to do a moment later
        later = retention.enforce(session, migrated, clock.now() + timedelta(seconds=1))
    assert set(later.values()) == {0}
