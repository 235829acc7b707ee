"""Issue 21 (house): reserved in the chain so that work on each issue can add its
schema without two heads; it changes nothing until that work fills it in.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04
"""

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
