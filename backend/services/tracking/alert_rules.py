"""The rules that raise alerts from movement traces and register state.

Evaluation runs per person, not per point: ingestion marks persons in ``alert_dirty``
inside its own transaction, and a job evaluates them, deleting the mark only if no newer
batch arrived meanwhile. A worker killed mid-way rolls back: the mark stays, the person is
evaluated again, and the unique index prevents a doubled alert. Alerts are written
through :mod:`backend.services.tracking.alert_store`.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from backend import clock
from backend.db import Database, rowcount
from backend.errors import DayClosing
from backend.models import Permit, Person, TerminationNotice
from backend.models.registries import PERMIT_CATEGORIES, SETTLER_CATEGORIES
from backend.services import policy
from backend.services.closing_days import being_closed, bounded_wait
from backend.services.notify import notify
from backend.services.settlement import alert_evidence
from backend.services.settlement.obligations import settlement_region
from backend.services.tracking.alert_store import close_alert, lock_person, open_alert
from backend.services.tracking.trace_points import UNRELIABLE_FLAGS
from backend.settings import Settings

log = logging.getLogger("qonys.alerts")


def permit_in_force(session: Session, person_id: int, on: date) -> Permit | None:
    """The person's permit in force on ``on``, the longest-running first."""
    return session.scalars(
        select(Permit)
        .where(Permit.person_id == person_id, Permit.in_force(on))
        .order_by(Permit.valid_to.desc())
    ).first()


def raise_device_signal(
    session: Session,
    person_id: int,
    kind: str,
    at: datetime,
    lat: float,
    lon: float,
    client: str,
) -> None:
    """An SOS or a fake-GPS report from a phone: an alert for the person's region at once.

    The region is the person's registered one (permanent first), else the permit's, so
    the officers responsible for the person see it; where the fix lies is in the details.
    """
    row = session.execute(
        text(
            """
            SELECT COALESCE(
                (SELECT region_kato FROM registrations WHERE person_id = :p AND ended_on IS NULL
                  ORDER BY kind = 'permanent' DESC, valid_from DESC LIMIT 1),
                (SELECT region_kato FROM permits WHERE person_id = :p
                  ORDER BY valid_to DESC LIMIT 1)) AS home,
                (SELECT region_kato FROM region_parts
                  WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
                  LIMIT 1) AS here
            """
        ),
        {"p": person_id, "lat": lat, "lon": lon},
    ).one()
    open_alert(
        session,
        person_id,
        kind,
        row.home or row.here,
        {
            "at": at,
            "location": {"lat": lat, "lon": lon},
            "fix_region_kato": row.here,
            "client": client,
        },
    )


def _outside_stats(
    session: Session, person_id: int, region: str, since: datetime, live_tolerance: timedelta
) -> dict[str, Any] | None:
    """When the person was last inside ``region``, since when outside, and the last fix.

    Only the newest fix of each 5-minute bucket is tested against the region, newest
    first, stopping at the first one inside: a person who is where they should be costs
    one point-in-polygon test, one who is away at most one test per 5 minutes of window.
    Every fix after the last inside one is outside by definition, so "outside since" needs
    no spatial test at all. Fixes flagged unreliable (poor accuracy, fake GPS) count for
    neither side.
    """
    with _closing_days_bounded(session):
        row = _outside_row(session, person_id, region, since, live_tolerance)
    if row.last_point is None:
        return None
    return {
        "last_inside": row.last_inside,
        "outside_since": row.outside_since,
        "last_point": row.last_point,
        "evidence": row,
    }


# The days being closed a slice found (:func:`evaluate_slice`), kept with its session: the
# reads of a person's points wait for their lock a moment only.
_CLOSING = "qonys.closing_days"


def _closing_days_bounded(session: Session) -> AbstractContextManager[None]:
    """Around a read of a person's points: a day the slice found being closed is waited
    for a moment only (``DayClosing``), not for its whole CLUSTER. Only the read: the
    person's own lock and alert rows are waited for as ever."""
    return bounded_wait(session.connection(), session.info.get(_CLOSING, []), reading=True)


def _outside_row(
    session: Session, person_id: int, region: str, since: datetime, live_tolerance: timedelta
) -> Any:
    return session.execute(
        text(
            f"""
            WITH reliable AS (
                SELECT recorded_at, received_at, source, geom FROM trace_points
                WHERE person_id = :p AND recorded_at >= :since
                  AND (flags IS NULL OR NOT flags && CAST(:unreliable AS text[]))
            ), buckets AS (
                SELECT DISTINCT ON (b) recorded_at, geom FROM (
                    SELECT recorded_at, geom, date_bin('5 minutes', recorded_at, :since) AS b
                    FROM reliable) x
                ORDER BY b DESC, recorded_at DESC
            ), last_in AS (
                SELECT recorded_at AS t FROM buckets b
                WHERE EXISTS (SELECT 1 FROM region_parts rp
                              WHERE rp.region_kato = :region AND ST_Intersects(rp.geom, b.geom))
                ORDER BY recorded_at DESC LIMIT 1
            ), outside AS (
                SELECT recorded_at, received_at, source FROM reliable
                WHERE recorded_at > COALESCE((SELECT t FROM last_in), '-infinity')
            )
            SELECT (SELECT t FROM last_in) AS last_inside,
                   (SELECT min(recorded_at) FROM outside) AS outside_since,
                   (SELECT max(recorded_at) FROM reliable) AS last_point, e.*
            FROM ({alert_evidence.OUTSIDE_EVIDENCE_SQL}) e
            """
        ),
        {
            "p": person_id,
            "region": region,
            "since": since,
            "unreliable": list(UNRELIABLE_FLAGS),
            "live_tolerance": live_tolerance,
        },
    ).one()


def _evaluate_region(
    session: Session,
    person_id: int,
    kind: str,
    region: str,
    settings: Settings,
    now: datetime,
    dwell_hours: float | None = None,
) -> None:
    hours = settings.alert_dwell_hours if dwell_hours is None else dwell_hours
    dwell = timedelta(hours=hours)
    live_tolerance = timedelta(seconds=settings.trace_live_tolerance_s)
    since = now - max(dwell * 2, timedelta(days=3))
    stats = _outside_stats(session, person_id, region, since, live_tolerance)
    if stats is None:
        return
    if stats["outside_since"] is None:
        close_alert(session, person_id, kind, "back in the region")
    elif stats["last_point"] - stats["outside_since"] >= dwell:
        open_alert(
            session,
            person_id,
            kind,
            region,
            {
                "region_kato": region,
                "outside_since": stats["outside_since"],
                "last_point_at": stats["last_point"],
                "dwell_hours": hours,
                "evidence": alert_evidence.region_evidence(
                    stats["evidence"],
                    stats["outside_since"],
                    stats["last_point"],
                    dwell,
                    live_tolerance,
                ),
            },
        )


def _temporary_registration_where_phone_is(
    session: Session, person_id: int, today: date
) -> int | None:
    """A temporary registration in force today in the region of the last position: a
    lawful stay away (rule 6: a trip, not a departure)."""
    found: int | None = session.scalar(
        text(
            """
            SELECT r.id FROM registrations r
            JOIN trace_last_positions l ON l.person_id = r.person_id
            JOIN region_parts rp ON rp.region_kato = r.region_kato
                AND ST_Intersects(rp.geom, l.geom)
            WHERE r.person_id = :p AND r.kind = 'temporary' AND r.ended_on IS NULL
              AND r.valid_from <= :d AND (r.valid_to IS NULL OR r.valid_to >= :d)
            LIMIT 1
            """
        ),
        {"p": person_id, "d": today},
    )
    return found


def _evaluate_permit_expiry(session: Session, person: Person, today: date) -> None:
    kind = "permit_expired_present"
    if permit_in_force(session, person.id, today) is not None:
        close_alert(session, person.id, kind, "a permit is in force")
        return
    latest = session.scalars(
        select(Permit).where(Permit.person_id == person.id).order_by(Permit.valid_to.desc())
    ).first()
    if latest is None:
        return
    ended = (
        latest.status_changed_at
        if latest.status in ("terminated", "revoked") and latest.status_changed_at
        else datetime.combine(latest.valid_to + timedelta(days=1), time.min, clock.LOCAL_TZ)
    )
    with _closing_days_bounded(session):
        seen = session.execute(
            text(
                """
                SELECT max(t.recorded_at) AS last_at,
                       (SELECT rp.region_kato FROM region_parts rp
                         JOIN trace_last_positions l ON ST_Intersects(rp.geom, l.geom)
                         WHERE l.person_id = :p LIMIT 1) AS region
                FROM trace_points t WHERE t.person_id = :p AND t.recorded_at > :ended
                """
            ),
            {"p": person.id, "ended": ended},
        ).one()
    if seen.last_at is not None:
        open_alert(
            session,
            person.id,
            kind,
            seen.region or latest.region_kato,
            {
                "permit": latest.number,
                "permit_status": latest.status,
                "ended_at": ended,
                "last_point_at": seen.last_at,
            },
        )


def evaluate_person(
    session: Session,
    person_id: int,
    settings: Settings,
    now: datetime | None = None,
) -> None:
    """Evaluate every trace-driven alert of one person, in the caller's transaction."""
    now = now or clock.now()
    person = session.get(Person, person_id)
    if person is None:
        return
    lock_person(session, person_id)
    today = clock.today(now)
    if person.category in PERMIT_CATEGORIES:
        permit = permit_in_force(session, person.id, today)
        if permit is not None:
            _evaluate_region(
                session, person.id, "left_permit_region", permit.region_kato, settings, now
            )
        else:
            close_alert(session, person.id, "left_permit_region", "no permit in force")
        _evaluate_permit_expiry(session, person, today)
    if person.category in SETTLER_CATEGORIES:
        region = settlement_region(session, person.id)
        kind = "left_settlement_region"
        if region and _temporary_registration_where_phone_is(session, person.id, today):
            close_alert(session, person.id, kind, "a temporary registration is in force there")
        elif region:
            # The dwell is a dated policy parameter (an assumption), not a server setting.
            hours = policy.integer(session, "left_region_dwell_hours", today)
            _evaluate_region(session, person.id, kind, region, settings, now, hours)
    close_alert(session, person.id, "silent_device", "the device reported again")


def evaluate_dirty(database: Database, settings: Settings, batch: int = 200) -> int:
    """Evaluate every person marked since their last evaluation; returns how many.

    Runs until nothing is left: for a demo or a test. Jobs use :func:`evaluate_slice`,
    which phones refilling the marks every second cannot keep busy for ever.
    """
    done, more = 0, True
    while more:
        count, more = evaluate_slice(database, settings, None, batch)
        done += count
    return done


def evaluate_slice(
    database: Database, settings: Settings, budget_s: float | None, batch: int = 200
) -> tuple[int, bool]:
    """Evaluate marked persons, oldest mark first, until ``budget_s`` has passed.

    Returns how many were evaluated and whether marks remain that this slice left for
    the next (its budget ran out). A person whose evaluation fails is skipped for the
    rest of the slice and does not count as left over: it waits for the next kick or
    the sweep rather than making every slice re-enqueue the next.

    So is a person whose points reach into a day the maintenance job is closing (its
    CLUSTER locks the day for minutes at national scale, on a worker of its own): its
    reads of points wait a moment for the day's lock, not the whole compaction, so that the
    audit seal, the outbox and users' jobs behind it on this worker run on time.
    """
    done, more, waiting = _slice(database, settings, budget_s, batch)
    if waiting:  # one line a slice, not one a person: a compaction lasts minutes
        log.info("alert evaluation: %d person(s) left marked while a day is being closed", waiting)
    return done, more


def _slice(
    database: Database, settings: Settings, budget_s: float | None, batch: int
) -> tuple[int, bool, int]:
    """:func:`evaluate_slice`'s work: also how many persons it left for a day being
    closed."""
    deadline = None if budget_s is None else monotonic() + budget_s
    done = tried = waiting = 0
    failed: set[int] = set()
    while True:
        with database.transaction() as session:
            rows = session.execute(
                text(
                    "SELECT person_id, marked_at FROM alert_dirty "
                    "WHERE NOT (person_id = ANY(:failed)) ORDER BY marked_at LIMIT :n"
                ),
                {"failed": list(failed), "n": batch},
            ).all()
            closing = being_closed(session.connection()) if rows else []
        if not rows:
            return done, False, waiting
        for person_id, marked_at in rows:
            # At least one person per slice, so that a slice always makes progress; a
            # person skipped counts against the budget too (while a day is being closed,
            # every one whose points reach it may be, each after its moment's wait).
            if deadline is not None and tried and monotonic() >= deadline:
                return done, True, waiting
            tried += 1
            try:
                with database.transaction() as session:
                    session.info[_CLOSING] = closing  # its reads of points (above)
                    evaluate_person(session, person_id, settings)
                    session.execute(
                        text("DELETE FROM alert_dirty WHERE person_id = :p AND marked_at <= :m"),
                        {"p": person_id, "m": marked_at},
                    )
                done += 1
            except DayClosing:  # marked still: evaluated once the day is closed
                waiting += 1
                failed.add(person_id)
            except Exception:
                log.exception("alert evaluation failed for person %s", person_id)
                failed.add(person_id)


def working_days_back(now: datetime, days: int) -> datetime:
    """The moment ``days`` working days before ``now`` (docs/domain.md rule 11).

    Weekends and Kazakhstan's public holidays are not working days (``clock``).
    """
    moment = now
    left = days
    while left > 0:
        moment -= timedelta(days=1)
        if clock.is_working_day(clock.today(moment)):
            left -= 1
    return moment


def sweep_silent_devices(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Open ``silent_device`` for monitored persons quiet for N working days; close the rest.

    A heartbeat without a fix is contact too: it is written to the token's last contact.
    """
    now = now or clock.now()
    days = policy.integer(session, "silent_device_working_days", clock.local(now).date())
    cutoff = working_days_back(now, days)
    opened = session.execute(
        text(
            """
            -- Each part read on its own and joined by person: on Citus the tokens stay on
            -- the coordinator, persons, registrations and positions are distributed.
            WITH monitored AS MATERIALIZED (
                SELECT t.person_id, min(t.created_at) AS since,
                       max(t.last_seen_at) AS contact FROM api_tokens t
                WHERE t.role = 'device' AND t.revoked_at IS NULL AND t.person_id IS NOT NULL
                  AND (t.expires_at IS NULL OR t.expires_at > now())
                GROUP BY t.person_id
            ), known AS MATERIALIZED (
                -- the region of the temporary registration (the stay), else the permanent one
                SELECT DISTINCT ON (p.id) p.id AS person_id, r.region_kato
                FROM persons p
                LEFT JOIN registrations r ON r.person_id = p.id AND r.ended_on IS NULL
                WHERE p.id IN (SELECT person_id FROM monitored)
                ORDER BY p.id, r.kind DESC
            ), last AS MATERIALIZED (
                SELECT person_id, recorded_at FROM trace_last_positions
                WHERE person_id IN (SELECT person_id FROM monitored)
            ), quiet AS (
                SELECT m.person_id, GREATEST(l.recorded_at, m.contact) AS last_seen,
                       k.region_kato AS region
                FROM monitored m JOIN known k ON k.person_id = m.person_id
                LEFT JOIN last l ON l.person_id = m.person_id
                WHERE COALESCE(GREATEST(l.recorded_at, m.contact), m.since) < :cutoff
            )
            INSERT INTO alerts (person_id, kind, region_kato, details)
            SELECT person_id, 'silent_device', region,
                   jsonb_build_object('last_seen', last_seen, 'working_days', CAST(:n AS int))
            FROM quiet
            ON CONFLICT (person_id, kind) WHERE status = 'open' DO NOTHING
            RETURNING id, person_id, region_kato
            """
        ),
        {"cutoff": cutoff, "n": days},
    ).all()  # the rows really inserted (Citus counts the rows it sent as affected)
    for alert in opened:
        notify.alert_opened(session, alert.id, alert.person_id, "silent_device", alert.region_kato)
    closed = session.execute(
        text(
            """
            WITH fixed AS MATERIALIZED (
                SELECT person_id FROM trace_last_positions WHERE recorded_at >= :cutoff
            ), contacted AS MATERIALIZED (
                SELECT person_id FROM api_tokens
                WHERE role = 'device' AND last_seen_at >= :cutoff AND person_id IS NOT NULL
            )
            UPDATE alerts a SET status = 'closed', closed_at = now(),
                close_reason = 'the device reported again'
            WHERE a.kind = 'silent_device' AND a.status = 'open' AND (
                a.person_id IN (SELECT person_id FROM fixed)
                OR a.person_id IN (SELECT person_id FROM contacted))
            """
        ),
        {"cutoff": cutoff},
    )
    return {"opened": len(opened), "closed": rowcount(closed)}


def late_termination_notice(
    session: Session, notice: TerminationNotice, permit: Permit, filed_on: date
) -> None:
    """An employer's notice filed after its deadline opens an alert for the region."""
    if not notice.late:
        return
    open_alert(
        session,
        permit.person_id,
        "late_termination_notice",
        permit.region_kato,
        {
            "permit": permit.number,
            "employer_bin": notice.employer_bin,
            "last_working_day": notice.last_working_day,
            "deadline": notice.deadline,
            "filed_on": filed_on,
        },
    )
