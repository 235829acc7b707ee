"""The register: persons, registrations, employers, permits, notices, officers' checks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE persons (
            id bigserial PRIMARY KEY,
            iin varchar(12) NOT NULL UNIQUE CHECK (iin ~ '^[0-9]{12}$'),
            iin_generated boolean NOT NULL DEFAULT false,
            surname varchar(100) NOT NULL,
            given_name varchar(100) NOT NULL,
            birth_date date NOT NULL,
            sex varchar(1) NOT NULL CHECK (sex IN ('M', 'F')),
            citizenship varchar(3) NOT NULL CHECK (citizenship ~ '^[A-Z]{3}$'),
            category varchar(32) NOT NULL,
            document_type varchar(32),
            document_number varchar(32),
            is_demo boolean NOT NULL DEFAULT false,
            source_key varchar(64) UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX persons_document_number ON persons (document_number);

        CREATE TABLE iin_serials (
            birth_date date NOT NULL,
            century_sex smallint NOT NULL,
            next_serial smallint NOT NULL,
            PRIMARY KEY (birth_date, century_sex)
        );

        CREATE TABLE registrations (
            id bigserial PRIMARY KEY,
            person_id bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            kind varchar(16) NOT NULL CHECK (kind IN ('permanent', 'temporary')),
            address text,
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            settlement_kato varchar(9) REFERENCES settlements(kato),
            geom geometry(Point, 4326) NOT NULL,
            valid_from date NOT NULL,
            valid_to date,
            ended_on date,
            source_key varchar(64) UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (valid_to IS NULL OR valid_to >= valid_from)
        );
        -- One current registration of each kind per person; history keeps the rest.
        CREATE UNIQUE INDEX registrations_current
            ON registrations (person_id, kind) WHERE ended_on IS NULL;
        CREATE INDEX registrations_person ON registrations (person_id);
        CREATE INDEX registrations_current_geog_gist
            ON registrations USING gist ((geom::geography)) WHERE ended_on IS NULL;

        CREATE TABLE employers (
            bin varchar(12) PRIMARY KEY CHECK (bin ~ '^[0-9]{12}$'),
            name varchar(300) NOT NULL,
            is_demo boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE SEQUENCE permit_number_seq;
        CREATE TABLE permits (
            id bigserial PRIMARY KEY,
            number varchar(32) NOT NULL UNIQUE,
            person_id bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            employer_bin varchar(12) REFERENCES employers(bin),
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            valid_from date NOT NULL,
            valid_to date NOT NULL,
            status varchar(16) NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'expired', 'terminated', 'revoked')),
            status_changed_at timestamptz,
            source_key varchar(64) UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK (valid_to >= valid_from)
        );
        CREATE INDEX permits_person ON permits (person_id, valid_to DESC);
        CREATE INDEX permits_employer ON permits (employer_bin);
        CREATE INDEX permits_active_valid_to ON permits (valid_to) WHERE status = 'active';

        CREATE TABLE permit_extensions (
            id bigserial PRIMARY KEY,
            permit_id bigint NOT NULL REFERENCES permits(id) ON DELETE CASCADE,
            previous_valid_to date NOT NULL,
            new_valid_to date NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE termination_notices (
            id bigserial PRIMARY KEY,
            permit_id bigint NOT NULL UNIQUE REFERENCES permits(id) ON DELETE CASCADE,
            employer_bin varchar(12) NOT NULL REFERENCES employers(bin),
            last_working_day date NOT NULL,
            reason text NOT NULL,
            late boolean NOT NULL,
            deadline date NOT NULL,
            filed_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE officer_checks (
            id bigserial PRIMARY KEY,
            token_id integer NOT NULL,
            person_id bigint,
            query_kind varchar(16) NOT NULL,
            verdict varchar(16) NOT NULL CHECK (verdict IN ('ok', 'violation', 'not_found')),
            reasons varchar(64)[] NOT NULL DEFAULT '{}',
            region_kato varchar(9),
            geom geometry(Point, 4326),
            checked_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX officer_checks_time ON officer_checks USING brin (checked_at);
        CREATE INDEX officer_checks_geom_gist ON officer_checks USING gist (geom);

        -- CSV files uploaded for bulk import, kept so a job can be re-run.
        CREATE TABLE import_files (
            id uuid PRIMARY KEY,
            kind varchar(32) NOT NULL,
            sha256 varchar(64) NOT NULL,
            content bytea NOT NULL,
            token_id integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE import_files;
        DROP TABLE officer_checks;
        DROP TABLE termination_notices;
        DROP TABLE permit_extensions;
        DROP TABLE permits;
        DROP SEQUENCE permit_number_seq;
        DROP TABLE employers;
        DROP TABLE registrations;
        DROP TABLE iin_serials;
        DROP TABLE persons;
        """
    )
