"""Households employ too: an employer is a firm (BIN) or a private person (IIN).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.EMPLOYER_KINDS.
KINDS = ("firm", "household")


def upgrade() -> None:
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    op.execute(
        "ALTER TABLE employers ADD COLUMN kind varchar(10) NOT NULL DEFAULT 'firm' "
        f"CONSTRAINT employers_kind_check CHECK (kind IN ({kinds}))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE employers DROP COLUMN kind")
