"""Foundation: reference geography, API tokens, append-only audit log, jobs, idempotency.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only when missing: on Citus even IF NOT EXISTS is sent on to the workers, where the
    # owner (not a superuser, not the extension's owner) may not touch it.
    op.execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')"
        " THEN CREATE EXTENSION postgis; END IF; END $$"
    )
    op.execute(
        """
        CREATE TABLE regions (
            kato varchar(9) PRIMARY KEY CHECK (kato ~ '^[0-9]{2}0000000$'),
            name_en varchar(100) NOT NULL,
            name_ru varchar(100) NOT NULL,
            name_kk varchar(100) NOT NULL,
            designated_for_settlement boolean NOT NULL DEFAULT false,
            geom geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom))
        );
        CREATE INDEX regions_geom_gist ON regions USING gist (geom);

        CREATE TABLE region_parts (
            id serial PRIMARY KEY,
            region_kato varchar(9) NOT NULL REFERENCES regions(kato) ON DELETE CASCADE,
            geom geometry(Polygon, 4326) NOT NULL
        );
        CREATE INDEX region_parts_geom_gist ON region_parts USING gist (geom);
        CREATE INDEX region_parts_region ON region_parts (region_kato);

        CREATE TABLE districts (
            kato varchar(9) PRIMARY KEY CHECK (kato ~ '^[0-9]{9}$'),
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            name varchar(200) NOT NULL,
            geom geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom))
        );
        CREATE INDEX districts_geom_gist ON districts USING gist (geom);

        CREATE TABLE settlements (
            kato varchar(9) PRIMARY KEY CHECK (kato ~ '^[0-9]{9}$'),
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            district_kato varchar(9) REFERENCES districts(kato) ON DELETE SET NULL,
            name varchar(200) NOT NULL,
            source varchar(200) NOT NULL,
            geom geometry(Point, 4326) NOT NULL
        );
        CREATE INDEX settlements_geom_gist ON settlements USING gist (geom);
        CREATE INDEX settlements_geog_gist ON settlements USING gist ((geom::geography));
        CREATE INDEX settlements_region ON settlements (region_kato);

        CREATE TABLE api_tokens (
            id serial PRIMARY KEY,
            token_hash varchar(64) NOT NULL UNIQUE,
            role varchar(16) NOT NULL
                CHECK (role IN ('admin', 'analyst', 'officer', 'employer', 'device')),
            employer_bin varchar(12),
            person_id bigint,
            region_kato varchar(9),
            label varchar(200),
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            CHECK (role <> 'employer' OR employer_bin IS NOT NULL),
            CHECK (role <> 'device' OR person_id IS NOT NULL)
        );

        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor varchar(64) NOT NULL,
            role varchar(16) NOT NULL,
            action varchar(64) NOT NULL,
            subject_person_id bigint,
            purpose text,
            request_id uuid
        );
        CREATE INDEX audit_log_subject ON audit_log (subject_person_id, at);
        CREATE INDEX audit_log_request ON audit_log (request_id);

        -- The audit log is append-only: the database itself refuses to change history.
        CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

        CREATE TABLE jobs (
            id varchar(64) PRIMARY KEY,
            kind varchar(64) NOT NULL,
            owner_token_id integer,
            status varchar(16) NOT NULL DEFAULT 'queued',
            progress smallint NOT NULL DEFAULT 0,
            params jsonb NOT NULL DEFAULT '{}',
            result jsonb,
            error varchar(2000),
            created_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        );

        CREATE TABLE idempotent_responses (
            token_id integer NOT NULL,
            key varchar(200) NOT NULL,
            request_hash varchar(64) NOT NULL,
            status smallint NOT NULL,
            body jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (token_id, key)
        );
        """
    )


def downgrade() -> None:
    # Dropping the audit log destroys the record of who saw whose data: only on purpose.
    if not context.config.attributes.get("force_audit_drop"):
        raise RuntimeError(
            "refusing to downgrade past 0001: it drops the audit log; "
            "run `qonys db downgrade base --force` if that is what you mean"
        )
    op.execute(
        """
        DROP TABLE idempotent_responses;
        DROP TABLE jobs;
        DROP TABLE audit_log;
        DROP FUNCTION audit_log_is_append_only();
        DROP TABLE api_tokens;
        DROP TABLE settlements;
        DROP TABLE districts;
        DROP TABLE region_parts;
        DROP TABLE regions;
        """
    )
