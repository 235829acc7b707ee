"""Obligation statuses: drop ``breach_suspected``, a status nothing ever set.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.OBLIGATION_STATUSES.
STATUSES = ("active", "breached", "fulfilled")
OLD_STATUSES = ("active", "breach_suspected", "breached", "fulfilled")


def _status_check(statuses: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{s}'" for s in statuses)
    op.execute(
        "ALTER TABLE settlement_obligations "
        "DROP CONSTRAINT settlement_obligations_status_check, "
        f"ADD CONSTRAINT settlement_obligations_status_check CHECK (status IN ({listed}))"
    )


def upgrade() -> None:
    _status_check(STATUSES)


def downgrade() -> None:
    _status_check(OLD_STATUSES)
