"""Sealing and verifying the audit trail (docs/domain.md: "an append-only audit log").

Each row carries ``row_hash``, set by the database on insert (migration 0014). A seal
covers the rows written since the previous seal and holds sha256(previous digest || their
hashes in id order); seals chain one to the next. Only rows that can no longer gain a
neighbour are sealed: written over a minute ago (``SETTLE_S``) and before the oldest
transaction still running that writes to the audit log, so a slow transaction's row never
lands inside a sealed range. A transaction that writes no audit row holds nothing back:
closing a day (a CLUSTER, minutes at national scale) held back every seal as long.

Why a lock on ``audit_log`` is enough: an uncommitted audit row belongs to a transaction
that holds ``RowExclusiveLock`` on it from before its id is drawn until it ends (each
mode a transaction holds is its own row of ``pg_locks``; readers, VACUUM and ANALYZE
hold other modes and are not waited for). One that takes the lock after the seal's
snapshot draws an id above every row the snapshot sees, so its row can never land in
the range sealed. This rests on three things, each tested or checked here:

- the seal reads the writers in a statement before the one that reads the rows, each
  with a snapshot of its own (READ COMMITTED, the sessions' default);
- ids are drawn in the order of time: one sequence, ``CACHE 1`` (a cache would hand
  each session a block of ids drawn ahead);
- the writers are read a minute (``SETTLE_S``) behind: ``pg_locks`` is read backend by
  backend, and a writer that takes its lock during that read may be missed; its row,
  written after, is then younger than the minute and left to the next seal.

:func:`verify` recomputes every row's hash from its content and every seal's digest from
the rows it covers, and names the first row (or seal) that does not match: a row changed,
a row added into a sealed range or removed from it, or a seal changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

SEAL_LOCK = 7_424_014  # one sealer at a time
SEAL_ROWS = 10_000  # rows per seal at most: a break is named within this range
SETTLE_S = 60  # rows this recent are left to the next seal
# When the rows written from then on may still gain a neighbour: ``SETTLE_S`` ago, or
# when the oldest writer of the audit log still running began, if earlier. A writer the
# runtime role may not watch (another role's session, a prepared transaction) shows no
# start: it holds back every row. (As text: '-infinity' has no Python datetime.)
_SETTLED = text(
    """
    SELECT CAST(least(clock_timestamp() - make_interval(secs => :settle),
                      coalesce(min(coalesce(a.xact_start, '-infinity')), clock_timestamp()))
                AS text)
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.relation = CAST('audit_log' AS regclass)
      AND l.mode = 'RowExclusiveLock'
      AND l.pid IS DISTINCT FROM pg_backend_pid()
    """
)


@dataclass(frozen=True)
class Break:
    row_id: int | None
    seal_id: int | None
    what: str

    def __str__(self) -> str:
        where = f"row {self.row_id}" if self.row_id is not None else f"seal {self.seal_id}"
        return f"{where}: {self.what}"


def seal_all(session: Session, settle_s: float = SETTLE_S) -> int:
    """Seal every settled row, a seal per ``SEAL_ROWS``; returns how many were sealed."""
    total = 0
    while True:
        done = seal(session, settle_s)
        total += done
        if done < SEAL_ROWS:
            return total


def seal(session: Session, settle_s: float = SETTLE_S) -> int:
    """Append one seal over the rows that are settled (written ``settle_s`` ago or more,
    and before every writer of the audit log still running began); returns how many it
    covers."""
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEAL_LOCK}):
        return 0
    last = session.execute(
        text("SELECT last_id, digest FROM audit_seals ORDER BY id DESC LIMIT 1")
    ).first()
    after = last.last_id if last else 0
    # Read before the rows, in a statement (and so a snapshot) of its own: a writer that
    # ends between the two was seen writing, and its row is then seen or left.
    before = session.scalar(_SETTLED, {"settle": settle_s})
    row = session.execute(
        text(
            """
            WITH upto AS (
                -- A contiguous run of ids: up to the first row not settled yet.
                SELECT coalesce(min(a.id) - 1, 9223372036854775807) AS id
                FROM audit_log a WHERE a.id > :after AND a.at >= CAST(:before AS timestamptz)
            ), rows AS (
                SELECT a.id, a.row_hash FROM audit_log a, upto
                WHERE a.id > :after AND a.id <= upto.id ORDER BY a.id LIMIT :chunk
            )
            SELECT min(id) AS first_id, max(id) AS last_id, count(*) AS n,
                   sha256(coalesce(CAST(:prev AS bytea), ''::bytea)
                          || string_agg(row_hash, ''::bytea ORDER BY id)) AS digest
            FROM rows
            """
        ),
        {
            "after": after,
            "prev": last.digest if last else None,
            "chunk": SEAL_ROWS,
            "before": before,
        },
    ).one()
    if not row.n:
        return 0
    session.execute(
        text(
            "INSERT INTO audit_seals (first_id, last_id, rows, digest, prev_digest)"
            " VALUES (:f, :l, :n, :d, :p)"
        ),
        {
            "f": row.first_id,
            "l": row.last_id,
            "n": row.n,
            "d": row.digest,
            "p": last.digest if last else None,
        },
    )
    return int(row.n)


def verify(session: Session, since: date | None = None) -> tuple[int, list[Break]]:
    """Check rows (from ``since``) and every seal; returns the rows checked and breaks."""
    bad_rows = (
        session.execute(
            text(
                """
            SELECT a.id FROM audit_log a
            WHERE (CAST(:since AS date) IS NULL OR a.at >= CAST(:since AS date))
              AND a.row_hash IS DISTINCT FROM audit_row_hash(a)
            ORDER BY a.id
            """
            ),
            {"since": since},
        )
        .scalars()
        .all()
    )
    checked = session.scalar(
        text(
            "SELECT count(*) FROM audit_log"
            " WHERE CAST(:since AS date) IS NULL OR at >= CAST(:since AS date)"
        ),
        {"since": since},
    )
    breaks = [Break(r, None, "its content does not match its hash (changed)") for r in bad_rows]
    seals = session.execute(
        text(
            """
            WITH s AS (
                SELECT *, lag(digest) OVER w AS before,
                       coalesce(lag(last_id) OVER w, 0) AS after
                FROM audit_seals WINDOW w AS (ORDER BY id)
            )
            SELECT s.id, s.first_id, s.last_id, s.rows, s.digest, s.prev_digest, s.before,
                   (SELECT count(*) FROM audit_log a
                    WHERE a.id > s.after AND a.id <= s.last_id) AS now_rows,
                   (SELECT sha256(coalesce(s.prev_digest, ''::bytea)
                                  || string_agg(a.row_hash, ''::bytea ORDER BY a.id))
                    FROM audit_log a WHERE a.id > s.after AND a.id <= s.last_id) AS now_digest
            FROM s ORDER BY s.id
            """
        )
    ).all()
    for s in seals:
        if s.prev_digest != s.before:
            breaks.append(Break(None, s.id, "does not follow the seal before it"))
        elif s.now_rows != s.rows:
            change = "removed" if s.now_rows < s.rows else "added"
            breaks.append(
                Break(
                    s.first_id,
                    s.id,
                    f"rows {s.first_id}-{s.last_id} were {s.rows} when sealed, now"
                    f" {s.now_rows}: {abs(s.rows - s.now_rows)} {change} in that range",
                )
            )
        elif s.now_digest != s.digest:
            breaks.append(Break(None, s.id, "the rows it covers no longer give its digest"))
    breaks.sort(key=lambda b: (b.row_id if b.row_id is not None else 0, b.seal_id or 0))
    return int(checked or 0), breaks
