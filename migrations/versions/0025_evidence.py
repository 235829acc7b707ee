"""Issue 28 (evidence): reserved in the chain so that work on each issue can add its
schema without two heads; it changes nothing until that work fills it in.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04
"""

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
