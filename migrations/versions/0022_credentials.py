"""Issue 25 (credentials): signed status lists, and offline checks synced from the phone.

- ``credential_status_lists``: the latest signed token of each status list (permits,
  registrations), republished by a job; small and national, so it stays on the
  coordinator under Citus, like the audit log.
- ``officer_checks`` gains what an offline check brings with it: the device's own time,
  the verdict the phone gave offline, and the outbox item's key (the check's identity
  across retries). The server's time stays ``checked_at``. On Citus the columns follow
  the distributed table.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE credential_status_lists (
            name varchar(32) PRIMARY KEY,
            token text NOT NULL,
            lst text NOT NULL,
            entries bigint NOT NULL,
            compressed_bytes integer NOT NULL,
            published_at timestamptz NOT NULL
        )
        """
    )
    op.execute(
        """
        ALTER TABLE officer_checks
            ADD COLUMN device_checked_at timestamptz,
            ADD COLUMN offline_verdict varchar(32),
            ADD COLUMN client_key varchar(64)
        """
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE officer_checks DROP COLUMN client_key, DROP COLUMN offline_verdict,"
        " DROP COLUMN device_checked_at"
    )
    op.execute("DROP TABLE credential_status_lists")
