"""Issue 27 (steady at national load): the spatial index of a day's points once the day
is closed, not while its points arrive.

The GiST index on ``trace_points.geom`` was a partitioned index, so every point went into
its day's GiST as it arrived: about a third of PostgreSQL's work per point on the batch
path, and an index that grows with the day (at national traffic a day holds tens of
millions of points). Its one reader is the daily-presence aggregation, which runs on
partitions long closed (before retention drops them). Each day's partition now gets its
own GiST when it is closed and compacted (``trace_storage.compact_closed``: two days
after its day); this migration gives one to every partition already closed.

The runtime role, which runs that job and owns the partitions, has no CREATE on the
schema (migration 0025), so the index is made by the owner's function
``qonys_index_trace_partition(day)``, which can make that one index and nothing else.
On Citus the role keeps CREATE and makes it itself (as it makes the partitions there).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_PREFIX = "trace_points_p"
_CLOSED_AFTER = timedelta(days=2)  # as trace_storage.CLOSED_AFTER when written


def _partitions() -> list[tuple[str, bool]]:
    """Each day's partition, and whether its day is closed."""
    names = (
        op.get_bind()
        .execute(
            sa.text(
                """
                SELECT c.relname FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid
                JOIN pg_class p ON p.oid = i.inhparent
                WHERE p.relname = 'trace_points'
                """
            )
        )
        .scalars()
        .all()
    )
    today = datetime.now(UTC).date()
    out = []
    for name in sorted(names):
        if name.startswith(_PREFIX):
            day = datetime.strptime(name[len(_PREFIX) :], "%Y%m%d").date()
            out.append((name, day <= today - _CLOSED_AFTER))
    return out


def upgrade() -> None:
    # One DDL statement each (Citus propagates them one by one).
    op.execute(
        """
        CREATE OR REPLACE FUNCTION qonys_index_trace_partition(day date) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        DECLARE
            name text := 'trace_points_p' || to_char(day, 'YYYYMMDD');
        BEGIN
            IF to_regclass('public.' || name) IS NULL THEN
                RETURN NULL;
            END IF;
            EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON public.%I USING gist (geom)',
                           name || '_geom_gist', name);
            RETURN name;
        END
        $fn$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION qonys_index_trace_partition(date) FROM PUBLIC")
    op.execute("DROP INDEX IF EXISTS trace_points_geom_gist")
    for name, closed in _partitions():
        if closed:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name}_geom_gist ON {name} USING gist (geom)")


def downgrade() -> None:
    for name, _closed in _partitions():
        op.execute(f"DROP INDEX IF EXISTS {name}_geom_gist")
    op.execute("CREATE INDEX trace_points_geom_gist ON trace_points USING gist (geom)")
    op.execute("DROP FUNCTION IF EXISTS qonys_index_trace_partition(date)")
