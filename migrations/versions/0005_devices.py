"""Phones: device token lifetime and last contact, refused input, point flags, new alerts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The alert kinds as of this revision; tests prove they equal backend.models.ALERT_KINDS.
KINDS = (
    "left_permit_region",
    "left_settlement_region",
    "permit_expired_present",
    "silent_device",
    "residence_mismatch",
    "late_termination_notice",
    "mock_location",
    "sos",
)
OLD_KINDS = KINDS[:6]


def _kind_check(kinds: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{k}'" for k in kinds)
    return (
        "ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check, "
        f"ADD CONSTRAINT alerts_kind_check CHECK (kind IN ({listed}))"
    )


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE api_tokens
            ADD COLUMN expires_at timestamptz,
            ADD COLUMN last_seen_at timestamptz,
            -- OwnTracks payload encryption key (libsodium secretbox), when the phone uses one.
            ADD COLUMN owntracks_key text;

        -- Why a stored point deserves caution (clock_skew, no_timestamp, poor_accuracy, ...).
        ALTER TABLE trace_points ADD COLUMN flags text[];

        -- What a phone sent that could not be stored, kept for the administrators: the
        -- phone itself was answered 2xx so that its queue moves on.
        CREATE TABLE trace_refusals (
            id bigserial PRIMARY KEY,
            token_id integer NOT NULL,
            person_id bigint,
            client varchar(16) NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            reason text NOT NULL,
            raw text
        );
        CREATE INDEX trace_refusals_token ON trace_refusals (token_id, received_at DESC);
        CREATE INDEX trace_refusals_received ON trace_refusals (received_at);
        """
    )
    op.execute(_kind_check(KINDS))


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE kind IN ('mock_location', 'sos')")
    op.execute(_kind_check(OLD_KINDS))
    op.execute(
        """
        DROP TABLE trace_refusals;
        ALTER TABLE trace_points DROP COLUMN flags;
        ALTER TABLE api_tokens DROP COLUMN expires_at, DROP COLUMN last_seen_at,
            DROP COLUMN owntracks_key;
        """
    )
