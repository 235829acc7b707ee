"""Two directions of resettlement (docs/domain.md rule 2): to a designated region, or within one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.DIRECTIONS.
DIRECTIONS = ("interregional", "intra_regional")


def upgrade() -> None:
    listed = ", ".join(f"'{d}'" for d in DIRECTIONS)
    op.execute(
        "ALTER TABLE settlement_applications ADD COLUMN direction varchar(16) NOT NULL "
        "DEFAULT 'interregional' "
        f"CONSTRAINT settlement_applications_direction_check CHECK (direction IN ({listed})), "
        "ADD COLUMN origin_region_kato varchar(9)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE settlement_applications DROP COLUMN direction, DROP COLUMN origin_region_kato"
    )
