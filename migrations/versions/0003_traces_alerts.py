"""Movement traces (partitioned by day), last positions, daily presence, alerts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- One row per (person, recorded time): replays and retries store nothing twice.
        -- Daily range partitions are created ahead by a job and dropped by retention.
        CREATE TABLE trace_points (
            person_id bigint NOT NULL,
            recorded_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            geom geometry(Point, 4326) NOT NULL,
            accuracy_m real,
            speed_mps real,
            bearing_deg real,
            altitude_m real,
            battery_pct real,
            source varchar(16) NOT NULL,
            attributes jsonb,
            PRIMARY KEY (person_id, recorded_at)
        ) PARTITION BY RANGE (recorded_at);
        CREATE INDEX trace_points_time_brin ON trace_points USING brin (recorded_at);
        CREATE INDEX trace_points_geom_gist ON trace_points USING gist (geom);

        -- The newest point of each person, kept at ingest for last-position and silence.
        CREATE TABLE trace_last_positions (
            person_id bigint PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
            recorded_at timestamptz NOT NULL,
            geom geometry(Point, 4326) NOT NULL,
            accuracy_m real
        );

        -- What indicators keep after raw points are dropped: where a person was each day.
        CREATE TABLE daily_presence (
            person_id bigint NOT NULL,
            day date NOT NULL,
            region_kato varchar(9) NOT NULL,
            points integer NOT NULL,
            first_at timestamptz NOT NULL,
            last_at timestamptz NOT NULL,
            PRIMARY KEY (person_id, day, region_kato)
        );
        CREATE INDEX daily_presence_day ON daily_presence (day, region_kato);

        -- Persons whose alerts need re-evaluation; marked in the ingest transaction.
        CREATE TABLE alert_dirty (
            person_id bigint PRIMARY KEY,
            marked_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );

        CREATE TABLE alerts (
            id bigserial PRIMARY KEY,
            person_id bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            kind varchar(32) NOT NULL CHECK (kind IN (
                'left_permit_region', 'left_settlement_region', 'permit_expired_present',
                'silent_device', 'residence_mismatch', 'late_termination_notice')),
            status varchar(16) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            region_kato varchar(9),
            details jsonb NOT NULL DEFAULT '{}',
            opened_at timestamptz NOT NULL DEFAULT now(),
            closed_at timestamptz,
            close_reason text
        );
        -- One open alert per person and kind.
        CREATE UNIQUE INDEX alerts_one_open ON alerts (person_id, kind) WHERE status = 'open';
        CREATE INDEX alerts_region ON alerts (region_kato, status, kind);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE alerts;
        DROP TABLE alert_dirty;
        DROP TABLE daily_presence;
        DROP TABLE trace_last_positions;
        DROP TABLE trace_points;
        """
    )
