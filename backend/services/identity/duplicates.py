"""Likely duplicates: found where persons enter, decided by an admin, merged and undone.

A merge moves every row that hangs off the merged person to the survivor: the
registrations, permits and their extensions and notices, alerts, checks, settlement
applications, obligations and support, pre-selections, traces and devices' tokens. On a
Citus coordinator the person's rows are distributed by person id, and a row cannot
change its distribution value in place: every engine gets the same copy-then-delete,
in the request's one transaction. What moved is kept (``person_merges.moved``) so that
an admin can undo the merge within ``MERGE_UNDO_DAYS``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import clock
from backend.errors import Conflict, Invalid, NotFound
from backend.models import DuplicateReview, Person, PersonMerge
from backend.services.closing_days import being_closed, bounded_wait
from backend.services.identity import identity_rules as rules
from backend.services.identity.matching import Candidate, candidates
from backend.services.pagination import decode_cursor, next_cursor

MERGE_UNDO_DAYS = 90
# The person's tables with an id, parents before the rows that point at them.
ID_TABLES = (
    "registrations",
    "permits",
    "permit_extensions",
    "termination_notices",
    "alerts",
    "officer_checks",
    "settlement_applications",
    "settlement_obligations",
    "support_payments",
    "preselections",
)
# Rows on the coordinator that name a person: changed in place.
IN_PLACE_TABLES = ("api_tokens", "trace_refusals")
# Keyed by (person, time or day) without an id: moved where the survivor has no such row.
KEYED_TABLES = {"trace_points": ("recorded_at",), "daily_presence": ("day", "region_kato")}
# A key column as text through IMMUTABLE functions only: Citus refuses a STABLE one (a
# timestamp's or a date's text depends on the session's settings) on a column in a
# DELETE. A time is its epoch in seconds (microseconds kept), a day its number.
_KEY_TEXT = {
    "recorded_at": "CAST(extract(epoch FROM (s.recorded_at - TIMESTAMPTZ 'epoch')) AS text)",
    "day": "CAST((s.day - DATE '1970-01-01') AS text)",
}

_OPEN_REVIEW = text(
    """
    INSERT INTO duplicate_reviews (person_id, candidate_id, score, reasons)
    VALUES (:a, :b, :score, CAST(:reasons AS varchar[]))
    ON CONFLICT (person_id, candidate_id) DO NOTHING
    """
)


def screen(session: Session, person: Person, data: dict[str, Any]) -> list[Candidate]:
    """Score a person just created against the register; open a review item for each
    likely duplicate, and return those."""
    probe = {**data, "iin": person.iin, "iin_generated": person.iin_generated}
    found = [
        c
        for c in candidates(session, probe, exclude=person.id)
        if c.score >= rules.DUPLICATE_THRESHOLD
    ]
    for c in found:
        session.execute(
            _OPEN_REVIEW,
            {
                "a": min(person.id, c.person_id),
                "b": max(person.id, c.person_id),
                "score": c.score,
                "reasons": c.reasons,
            },
        )
    return found


def list_reviews(
    session: Session, status: str, limit: int, cursor: str | None
) -> tuple[list[DuplicateReview], str | None]:
    after = decode_cursor(cursor)
    items = list(
        session.scalars(
            select(DuplicateReview)
            .where(DuplicateReview.status == status, DuplicateReview.id > after)
            .order_by(DuplicateReview.id)
            .limit(limit)
        )
    )
    return items, next_cursor([r.id for r in items], limit)


def _review(session: Session, review_id: int) -> DuplicateReview:
    review = session.scalars(
        select(DuplicateReview).where(DuplicateReview.id == review_id).with_for_update()
    ).one_or_none()
    if review is None:
        raise NotFound(f"duplicate review {review_id} not found")
    return review


def _locked_person(session: Session, person_id: int) -> Person:
    person = session.scalars(
        select(Person)
        .where(Person.id == person_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if person is None:
        raise NotFound(f"person {person_id} not found")
    return person


def decide(
    session: Session, review_id: int, decision: str, reason: str, actor: str
) -> tuple[DuplicateReview, PersonMerge | None]:
    """Record an admin's decision; ``same`` merges the pair into its survivor."""
    review = _review(session, review_id)
    if review.status != "open":
        raise Conflict(f"duplicate review {review_id} is already decided ({review.status})")
    merge = None
    if decision == "same":
        merge = merge_persons(session, review.person_id, review.candidate_id, actor, review.id)
    review.status, review.reason = decision, reason
    review.decided_by, review.decided_at = actor, clock.now()
    return review, merge


def survivor_of(a: Person, b: Person) -> tuple[Person, Person]:
    """(survivor, merged): the one with a real IIN, else the older record."""
    if a.iin_generated != b.iin_generated:
        return (b, a) if a.iin_generated else (a, b)
    if not a.iin_generated:
        raise Conflict("both persons hold a real IIN: two IINs are two people")
    return (a, b) if (a.created_at, a.id) <= (b.created_at, b.id) else (b, a)


def _columns(session: Session, table: str) -> list[str]:
    return list(
        session.scalars(
            text(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = :t ORDER BY ordinal_position"
            ),
            {"t": table},
        )
    )


def _stash_by_id(session: Session, table: str, source: int, ids: list[int] | None) -> list[int]:
    """Keep aside the rows of ``table`` to move (all of ``source``'s, or those ``ids``) in
    a temporary table; returns their ids. A row cannot be copied beside itself (its id is
    its key on one node) nor change its person in place (its shard on Citus): rows are
    set aside, deleted, then written back under the other person."""
    chosen = "" if ids is None else " AND id = ANY(:ids)"
    moved = list(
        session.scalars(
            text(f"SELECT id FROM {table} WHERE person_id = :source{chosen}"),
            {"source": source, "ids": ids},
        )
    )
    if moved:
        session.execute(
            text(
                f"CREATE TEMP TABLE moving_{table} ON COMMIT DROP AS"
                f" SELECT * FROM {table} WHERE person_id = :source AND id = ANY(:ids)"
            ),
            {"source": source, "ids": moved},
        )
    return moved


def _delete_by_id(session: Session, table: str, person_id: int, ids: list[int]) -> None:
    if ids:
        session.execute(
            text(f"DELETE FROM {table} WHERE person_id = :p AND id = ANY(:ids)"),
            {"p": person_id, "ids": ids},
        )


def _restore_by_id(session: Session, table: str, target: int) -> None:
    """Write the rows set aside back, as ``target``'s."""
    columns = _columns(session, table)
    listed = ", ".join(columns)
    values = ", ".join(":target" if c == "person_id" else c for c in columns)
    session.execute(
        text(f"INSERT INTO {table} ({listed}) SELECT {values} FROM moving_{table}"),
        {"target": target},
    )
    session.execute(text(f"DROP TABLE moving_{table}"))


def _move_keyed(
    session: Session, table: str, source: int, target: int, keys: list[list[str]] | None
) -> list[list[str]]:
    """Move the keyed rows the target lacks (or those ``keys``); returns their keys."""
    with _day_locks(session, table):
        return _move_keyed_rows(session, table, source, target, keys)


def _move_keyed_rows(
    session: Session, table: str, source: int, target: int, keys: list[list[str]] | None
) -> list[list[str]]:
    key_columns = KEYED_TABLES[table]
    columns = _columns(session, table)
    listed = ", ".join(columns)
    values = ", ".join(":target" if c == "person_id" else f"s.{c}" for c in columns)
    key_text = " || '|' || ".join(_KEY_TEXT.get(k, f"CAST(s.{k} AS text)") for k in key_columns)
    # The keys as a relation joined on, not ``= ANY(:keys)``: a person tracked for 90
    # days at 30 s has 260,000 points, and with the array (psycopg2 sends it as a
    # literal of that many elements) the move took 7-35 s on the bench database, a
    # statement up to 25 s, near the API's 30-s statement bound; joined, about 2 s, its
    # slowest statement about 1 s (bench/merges.py).
    listed_keys = "(SELECT DISTINCT key FROM unnest(CAST(:keys AS text[])) AS u(key))"
    chosen = "" if keys is None else f" JOIN {listed_keys} k ON ({key_text}) = k.key"
    # Each person's rows read on their own: on Citus the two are on two shards, which
    # one statement may not correlate.
    held = text(f"SELECT {key_text} FROM {table} s{chosen} WHERE s.person_id = :person")
    wanted = ["|".join(k) for k in keys or []]
    offered = list(session.scalars(held, {"person": source, "keys": wanted}))
    taken = set(session.scalars(held, {"person": target, "keys": wanted}))
    moved = [k.split("|") for k in offered if k not in taken]
    if not moved:
        return []
    joined = ["|".join(k) for k in moved]
    session.execute(
        text(
            f"INSERT INTO {table} ({listed}) SELECT {values} FROM {table} s"
            f" JOIN {listed_keys} k ON ({key_text}) = k.key WHERE s.person_id = :source"
        ),
        {"source": source, "target": target, "keys": joined},
    )
    session.execute(
        text(
            f"DELETE FROM {table} s USING {listed_keys} k"
            f" WHERE s.person_id = :source AND ({key_text}) = k.key"
        ),
        {"source": source, "keys": joined},
    )
    return moved


def _day_locks(session: Session, table: str) -> AbstractContextManager[None]:
    """For trace points, read and written over all of a person's days: a day the
    maintenance job is closing is waited for a moment only (503 ``day_closing``, decided
    again later), not for its whole CLUSTER while the merge holds the persons' and their
    devices' rows (every phone of those devices would wait with it)."""
    if table != "trace_points":
        return nullcontext()
    return bounded_wait(session.connection(), being_closed(session.connection()))


def _move_all(
    session: Session, source: int, target: int, chosen: dict[str, Any] | None
) -> dict[str, Any]:
    """Every row of ``source`` (or those listed in ``chosen``) moved to ``target``."""
    moved: dict[str, Any] = {}
    try:
        with session.begin_nested():
            for table in ID_TABLES:
                ids = None if chosen is None else chosen.get(table, [])
                moved[table] = [] if ids == [] else _stash_by_id(session, table, source, ids)
            for table in reversed(ID_TABLES):
                _delete_by_id(session, table, source, moved[table])
            for table in ID_TABLES:
                if moved[table]:
                    _restore_by_id(session, table, target)
            for table in IN_PLACE_TABLES:
                ids = None if chosen is None else chosen.get(table, [])
                chosen_ids = "" if ids is None else " AND id = ANY(:ids)"
                moved[table] = list(
                    session.scalars(
                        text(
                            f"UPDATE {table} SET person_id = :target"
                            f" WHERE person_id = :source{chosen_ids} RETURNING id"
                        ),
                        {"source": source, "target": target, "ids": ids},
                    )
                )
            for table in KEYED_TABLES:
                keys = None if chosen is None else chosen.get(table, [])
                moved[table] = (
                    [] if keys == [] else _move_keyed(session, table, source, target, keys)
                )
            session.execute(
                text(
                    "INSERT INTO alert_dirty (person_id, marked_at) VALUES (:p, now())"
                    " ON CONFLICT (person_id) DO NOTHING"
                ),
                {"p": target},
            )
    except IntegrityError as exc:
        raise Conflict(
            "the two records hold rows that cannot both be one person's "
            "(an open alert of one kind, an application of one year): resolve them first"
        ) from exc
    return moved


def merge_persons(
    session: Session, a_id: int, b_id: int, actor: str, review_id: int | None = None
) -> PersonMerge:
    """Merge two persons into the survivor, in the caller's transaction."""
    first, second = (_locked_person(session, pid) for pid in sorted((a_id, b_id)))
    if first.merged_into or second.merged_into:
        raise Conflict("one of the two persons is already merged into another")
    survivor, merged = survivor_of(first, second)
    moved = _move_all(session, merged.id, survivor.id, None)
    merged.merged_into = survivor.id
    merge = PersonMerge(
        survivor_id=survivor.id,
        merged_id=merged.id,
        review_id=review_id,
        moved=moved,
        merged_by=actor,
    )
    session.add(merge)
    session.flush()
    return merge


def undo_merge(session: Session, merge_id: int) -> PersonMerge:
    """Put back what a merge moved, within ``MERGE_UNDO_DAYS`` of it."""
    merge = session.scalars(
        select(PersonMerge).where(PersonMerge.id == merge_id).with_for_update()
    ).one_or_none()
    if merge is None:
        raise NotFound(f"merge {merge_id} not found")
    if merge.undone_at is not None:
        raise Conflict(f"merge {merge_id} is already undone")
    if clock.now() - merge.merged_at > timedelta(days=MERGE_UNDO_DAYS):
        raise Invalid("merge_id", f"merges can be undone within {MERGE_UNDO_DAYS} days")
    merged = _locked_person(session, merge.merged_id)
    _locked_person(session, merge.survivor_id)
    _move_all(session, merge.survivor_id, merge.merged_id, merge.moved)
    merged.merged_into = None
    merge.undone_at = clock.now()
    if merge.review_id is not None:
        review = session.get(DuplicateReview, merge.review_id)
        if review is not None:
            review.status = "undone"
    return merge
