"""Issue 22 (who is who): the birth date block of a match bounded by the surname's initial.

A match reads the persons born on the birth date sought (and with day and month
swapped) to find those whose surname is spelled past its blocking key. At national scale
that is about a thousand persons a day; the block now reads only those whose surname
skeleton (``name_key``) begins with the letter of a name sought, through an index on
``(birth_date, left(name_key, 1))``: the skeleton spells one sound with one letter in
every romanization (backend/services/identity/identity_rules.py), so its first letter survives
them. One statement per ``op.execute``; an index on a distributed table is fine on Citus.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX persons_birth_initial ON persons (birth_date, left(name_key, 1))")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS persons_birth_initial")
