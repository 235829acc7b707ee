"""Issue 24, round 2: quotas for a medium-term period (seed 004 p. 4).

A quota row covers the years ``year`` (its first) through ``through_year``; ``NULL``
there is a one-year quota, as every row before this revision. The period is at most
five years, and a region's periods never overlap (the service checks this while it holds
the region's quota rows locked). Fill counts the admissions of every year of the period.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One DDL statement per call, the constraint added separately (Citus).
    op.execute("ALTER TABLE quotas ADD COLUMN through_year smallint")
    op.execute(
        "ALTER TABLE quotas ADD CONSTRAINT quotas_period_check"
        " CHECK (through_year IS NULL OR through_year BETWEEN year AND year + 4)"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE quotas DROP CONSTRAINT quotas_period_check")
    op.execute("ALTER TABLE quotas DROP COLUMN through_year")
