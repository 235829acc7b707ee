"""Issue 23 (pages): reserved in the chain so that work on each issue can add its
schema without two heads; it changes nothing until that work fills it in.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04
"""

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
