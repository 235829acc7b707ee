"""Issue 28 (evidence): partitions made without CREATE on ``public``; refusals redacted.

- The runtime role loses CREATE on schema ``public`` (backend/dbroles.py): it could
  create any object there. It still has to make the daily ``trace_points`` partitions
  at run time, so the owner provides exactly that as a SECURITY DEFINER function,
  ``qonys_create_trace_partition(day)``, which the runtime role may execute.
- ``trace_refusals.raw`` kept before redaction decoded the query may hold a device token
  percent-encoded (``qny%5F…``): cut out, as backend/redaction.py now does on writing.

Fixes keep their receive time in ``trace_points.received_at`` (there since 0003), so
``backfilled`` evidence needs no new column.

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-04
"""

from alembic import op

revision = "0025"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION qonys_create_trace_partition(day date) RETURNS text
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
        DECLARE
            name text := 'trace_points_p' || to_char(day, 'YYYYMMDD');
            owner name;
        BEGIN
            IF to_regclass('public.' || name) IS NOT NULL THEN
                RETURN NULL;
            END IF;
            EXECUTE format(
                'CREATE TABLE public.%I PARTITION OF public.trace_points'
                ' FOR VALUES FROM (%L) TO (%L)',
                name, day::text || ' 00:00+00', (day + 1)::text || ' 00:00+00');
            -- Owned like the parent (the runtime role), so that retention can drop it.
            SELECT tableowner INTO owner FROM pg_tables
            WHERE schemaname = 'public' AND tablename = 'trace_points';
            -- A new owner needs CREATE on the schema: granted and revoked again in this
            -- transaction, so no other session ever sees the runtime role holding it.
            IF owner IS DISTINCT FROM current_user THEN
                EXECUTE format('GRANT CREATE ON SCHEMA public TO %I', owner);
                EXECUTE format('ALTER TABLE public.%I OWNER TO %I', name, owner);
                EXECUTE format('REVOKE CREATE ON SCHEMA public FROM %I', owner);
            END IF;
            RETURN name;
        END
        $fn$;
        REVOKE ALL ON FUNCTION qonys_create_trace_partition(date) FROM PUBLIC;
        """
    )
    op.execute(
        r"""
        UPDATE trace_refusals
        SET raw = regexp_replace(raw, 'qny(_|%5F|%255F)[A-Za-z0-9_%\-]+', 'qny_***', 'gi')
        WHERE raw ~* 'qny(_|%5F|%255F)'
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS qonys_create_trace_partition(date)")
