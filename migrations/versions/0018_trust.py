"""Issue 28 (trust): reserved in the chain so that work on each issue can add its
schema without two heads; it changes nothing until that work fills it in.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
