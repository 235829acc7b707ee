"""An audit trail nobody can rewrite unseen: a hash per row, seals chained to each other.

Each row gets, on insert, its time from the database clock (a backdated ``at`` is
overwritten) and ``row_hash`` = sha256 of its content. A periodic job appends seals: a
seal covers the rows after the previous one and holds sha256(previous seal's digest ||
the rows' hashes in id order). The runtime role can only INSERT and SELECT both tables;
``qonys audit verify`` recomputes every hash and digest, so a row changed, added into a
sealed range or removed, even by a superuser with the triggers off, is found and named.
The request id a client sent is kept apart from the server's own.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        r"""
        ALTER TABLE audit_log ADD COLUMN client_request_id varchar(100),
                              ADD COLUMN row_hash bytea;

        -- The canonical text of a row: every column, in a fixed order and format.
        CREATE FUNCTION audit_row_hash(r audit_log) RETURNS bytea
        LANGUAGE sql IMMUTABLE AS $$
            SELECT sha256(convert_to(concat_ws(chr(31),
                r.id::text,
                to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                r.actor, r.role, r.action,
                coalesce(r.subject_person_id::text, ''), coalesce(r.purpose, ''),
                coalesce(r.request_id::text, ''), coalesce(r.client_request_id, '')), 'UTF8'))
        $$;

        CREATE FUNCTION audit_log_stamp() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.at := clock_timestamp();
            NEW.row_hash := audit_row_hash(NEW);
            RETURN NEW;
        END $$;
        CREATE TRIGGER audit_log_stamp BEFORE INSERT ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_stamp();

        CREATE TABLE audit_seals (
            id bigserial PRIMARY KEY,
            sealed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            first_id bigint NOT NULL,
            last_id bigint NOT NULL,
            rows integer NOT NULL,
            digest bytea NOT NULL,
            prev_digest bytea
        );
        CREATE TRIGGER audit_seals_no_update BEFORE UPDATE OR DELETE ON audit_seals
            FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
        CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
        """
    )
    # Rows written before this revision get their hash once, here, by the owner.
    op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    op.execute("UPDATE audit_log a SET row_hash = audit_row_hash(a)")
    op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE audit_seals;
        DROP TRIGGER audit_log_stamp ON audit_log;
        DROP FUNCTION audit_log_stamp();
        DROP FUNCTION audit_row_hash(audit_log);
        ALTER TABLE audit_log DROP COLUMN client_request_id, DROP COLUMN row_hash;
        """
    )
