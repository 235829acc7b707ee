"""Issue 27 (steady at national load): the spatial index of a day's points once the day
is closed, not while its points arrive.

The GiST index on ``trace_points.geom`` was a partitioned index, so every point went into
its day's GiST as it arrived: about a third of PostgreSQL's work per point on the batch
path, and an index that grows with the day (at national traffic a day holds tens of
millions of points). Its one reader is the daily-presence aggregation, which runs on
partitions long closed (before retention drops them). Each day's partition now gets its
own GiST when it is closed and compacted (``trace_storage.compact_closed``: two days
after its day).

This migration only drops the partitioned index, a short lock: building the closed days'
indexes here would hold every partition locked, in the migrations' one transaction, for
as long as they all take to build. ``compact_closed`` builds them afterwards, a few days
an hour, oldest first (the next to be aggregated and dropped), as it does for every day
it closes.

The runtime role, which runs that job and owns the partitions, has no CREATE on the
schema (migration 0025), so the index is made by the owner's function
``qonys_index_trace_partition(day)``, which makes that one index, on a closed day's
partition of ``trace_points``, and nothing else.
On Citus the role keeps CREATE and makes it itself (as it makes the partitions there).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One DDL statement each (Citus propagates them one by one).
    op.execute(
        """
        CREATE OR REPLACE FUNCTION qonys_index_trace_partition(day date) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        DECLARE
            name text := 'trace_points_p' || to_char(day, 'YYYYMMDD');
        BEGIN
            -- Closed days only (two days past, UTC): a build locks out the day's writes.
            IF day > (now() AT TIME ZONE 'UTC')::date - 2 THEN
                RAISE EXCEPTION 'the day % is not closed yet', day;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_inherits i
                           JOIN pg_class c ON c.oid = i.inhrelid
                           WHERE i.inhparent = 'public.trace_points'::regclass
                             AND c.oid = to_regclass('public.' || name)) THEN
                RETURN NULL;
            END IF;
            EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON public.%I USING gist (geom)',
                           name || '_geom_gist', name);
            RETURN name || '_geom_gist';
        END
        $fn$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION qonys_index_trace_partition(date) FROM PUBLIC")
    op.execute("DROP INDEX IF EXISTS trace_points_geom_gist")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS qonys_index_trace_partition(date)")
    # On Citus a function command (this one, 0025's downgrade after it) may not follow a
    # parallel command on a distributed table in one transaction: the index is built one
    # connection per node (a placeholder setting, without effect, on plain PostgreSQL).
    op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    # The closed days' own indexes match: PostgreSQL attaches them to the partitioned
    # index instead of building them again, and builds only the other days'.
    op.execute("CREATE INDEX trace_points_geom_gist ON trace_points USING gist (geom)")
