"""Kandas and resettler settlement: quotas, lists, indicators, applications, obligations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Monthly calculation index (МРП / АЕК) per year, the unit support is paid in.
        CREATE TABLE mrp_values (
            year smallint PRIMARY KEY,
            kzt numeric(12, 2) NOT NULL CHECK (kzt > 0)
        );
        INSERT INTO mrp_values (year, kzt) VALUES (2023, 3450), (2024, 3692), (2025, 3932),
            (2026, 4325);

        CREATE TABLE quotas (
            year smallint NOT NULL,
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            kandas integer NOT NULL CHECK (kandas >= 0),
            resettlers integer NOT NULL CHECK (resettlers >= 0),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (year, region_kato)
        );

        -- Settlements open for resettlement in a year (published by 15 December before).
        CREATE TABLE settlement_lists (
            year smallint NOT NULL,
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            settlement_kato varchar(9) NOT NULL REFERENCES settlements(kato),
            published_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (year, settlement_kato)
        );
        CREATE INDEX settlement_lists_region ON settlement_lists (year, region_kato);

        CREATE TABLE settlement_indicators (
            settlement_kato varchar(9) PRIMARY KEY REFERENCES settlements(kato) ON DELETE CASCADE,
            labour_demand real NOT NULL CHECK (labour_demand >= 0),
            has_school boolean NOT NULL,
            has_clinic boolean NOT NULL,
            has_housing boolean NOT NULL,
            has_transport boolean NOT NULL,
            population_trend real NOT NULL,
            as_of date NOT NULL,
            source varchar(200) NOT NULL,
            is_demo boolean NOT NULL DEFAULT false
        );

        CREATE TABLE settlement_applications (
            id bigserial PRIMARY KEY,
            person_id bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            category varchar(16) NOT NULL CHECK (category IN ('kandas', 'resettler')),
            family_size smallint NOT NULL CHECK (family_size BETWEEN 1 AND 30),
            year smallint NOT NULL,
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            settlement_kato varchar(9) NOT NULL REFERENCES settlements(kato),
            status varchar(16) NOT NULL DEFAULT 'admitted',
            accepted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX settlement_applications_one_per_year
            ON settlement_applications (person_id, year);
        CREATE INDEX settlement_applications_fill
            ON settlement_applications (year, region_kato, category);

        CREATE TABLE settlement_obligations (
            id bigserial PRIMARY KEY,
            person_id bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            application_id bigint NOT NULL UNIQUE REFERENCES settlement_applications(id),
            region_kato varchar(9) NOT NULL REFERENCES regions(kato),
            settlement_kato varchar(9) NOT NULL REFERENCES settlements(kato),
            family_size smallint NOT NULL,
            starts_on date NOT NULL,
            ends_on date NOT NULL,
            status varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN (
                'active', 'breach_suspected', 'breached', 'fulfilled')),
            breach_detected_on date,
            breach_evidence jsonb,
            amount_due_kzt numeric(14, 2),
            decided_by varchar(64),
            decision varchar(16),
            decision_reason text,
            decided_at timestamptz
        );
        CREATE INDEX settlement_obligations_person ON settlement_obligations (person_id);

        CREATE TABLE support_payments (
            id bigserial PRIMARY KEY,
            obligation_id bigint NOT NULL REFERENCES settlement_obligations(id) ON DELETE CASCADE,
            item varchar(32) NOT NULL CHECK (item IN (
                'relocation', 'housing_subsidy', 'mobility_certificate')),
            amount_mrp numeric(10, 2),
            mrp_year smallint,
            amount_kzt numeric(14, 2) NOT NULL CHECK (amount_kzt >= 0),
            details jsonb NOT NULL DEFAULT '{}',
            paid_on date NOT NULL
        );
        CREATE INDEX support_payments_obligation ON support_payments (obligation_id);

        -- Rendered maps (HTML), newest served; kept small by simplification and gzip.
        CREATE TABLE map_artifacts (
            id bigserial PRIMARY KEY,
            kind varchar(32) NOT NULL,
            job_id varchar(64),
            html bytea NOT NULL,
            bytes integer NOT NULL,
            gzip_bytes integer NOT NULL,
            data_date date NOT NULL,
            params jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX map_artifacts_latest ON map_artifacts (kind, created_at DESC);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE map_artifacts;
        DROP TABLE support_payments;
        DROP TABLE settlement_obligations;
        DROP TABLE settlement_applications;
        DROP TABLE settlement_indicators;
        DROP TABLE settlement_lists;
        DROP TABLE quotas;
        DROP TABLE mrp_values;
        """
    )
