"""Support paid as it is paid; departures are suspected before they are breaches.

Housing subsidy is booked month by month (installment number on each payment) instead of
twelve months on admission day; the obligation keeps the plan (rate and months). An
obligation's status gains ``suspected``: evidence of a departure waits for a decision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.OBLIGATION_STATUSES.
STATUSES = ("active", "suspected", "breached", "fulfilled")
OLD_STATUSES = ("active", "breached", "fulfilled")


def _status_check(statuses: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{s}'" for s in statuses)
    return (
        "ALTER TABLE settlement_obligations DROP CONSTRAINT settlement_obligations_status_check, "
        f"ADD CONSTRAINT settlement_obligations_status_check CHECK (status IN ({listed}))"
    )


def upgrade() -> None:
    op.execute(_status_check(STATUSES))
    op.execute(
        """
        ALTER TABLE settlement_obligations
            ADD COLUMN subsidy_mrp_per_month numeric(10, 2),
            ADD COLUMN subsidy_months smallint CHECK (subsidy_months BETWEEN 0 AND 60);
        ALTER TABLE support_payments ADD COLUMN installment smallint;
        CREATE UNIQUE INDEX support_payments_installment
            ON support_payments (obligation_id, item, installment)
            WHERE installment IS NOT NULL;
        -- One family, one active (or suspected) obligation.
        CREATE UNIQUE INDEX settlement_obligations_one_open
            ON settlement_obligations (person_id) WHERE status IN ('active', 'suspected');
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX settlement_obligations_one_open;
        DROP INDEX support_payments_installment;
        ALTER TABLE support_payments DROP COLUMN installment;
        ALTER TABLE settlement_obligations
            DROP COLUMN subsidy_mrp_per_month, DROP COLUMN subsidy_months;
        UPDATE settlement_obligations SET status = 'active' WHERE status = 'suspected';
        """
    )
    op.execute(_status_check(OLD_STATUSES))
