"""Kindergartens and utilities join the infrastructure a settlement needs (docs/domain.md rule 5).

Unknown stays unknown (NULL): a settlement whose kindergartens were never reported is
"no data" for that item, not lacking it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE settlement_indicators "
        "ADD COLUMN has_kindergarten boolean, ADD COLUMN has_utilities boolean"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE settlement_indicators DROP COLUMN has_kindergarten, DROP COLUMN has_utilities"
    )
