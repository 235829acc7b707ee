"""On a Citus coordinator: the traces distributed by person, the geography and policy
replicated to every node. On a plain PostgreSQL nothing changes.

- Reference tables (a copy on every node, joined locally): regions, their parts,
  districts, settlements, policy parameters.
- Distributed by person id, co-located (one person's rows on one node, so a person's
  track, last position, presence and alert marks are read and written on one shard):
  the daily-partitioned ``trace_points`` (its partitions follow it, created ahead and
  dropped by the same maintenance and retention jobs), ``trace_last_positions``,
  ``daily_presence`` and ``alert_dirty``.
- The register itself (persons, registrations, permits, alerts, checks, obligations)
  stays on the coordinator here, as "Citus local tables"; 0017 distributes it into the
  same shard group, once 0016 has given every unique key a shard.

The last positions lose their foreign key to persons (a distributed table may only
reference reference tables); retention deletes both.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from alembic import op
from sqlalchemy import text

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

REFERENCE = ("regions", "districts", "settlements", "region_parts", "policy_parameters")
CO_LOCATED = ("trace_last_positions", "daily_presence", "alert_dirty")


def _on_citus() -> bool:
    bind = op.get_bind()
    return bool(bind.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")))


def _own(table: str) -> None:
    """Citus distributes a table only for its owner, and one transaction must not touch
    shards as two users: the migration takes the runtime role's tables over (the owner
    is a member of that role), and ``qonys db upgrade`` hands them back afterwards
    (backend/dbroles.py)."""
    bind = op.get_bind()
    owner = bind.scalar(text("SELECT tableowner FROM pg_tables WHERE tablename = :t"), {"t": table})
    if owner != bind.scalar(text("SELECT current_user")):
        op.execute(f"ALTER TABLE {table} OWNER TO CURRENT_USER")


def upgrade() -> None:
    if not _on_citus():
        return
    for table in REFERENCE:
        op.execute(f"SELECT create_reference_table('{table}')")
        op.execute(f"SELECT truncate_local_data_after_distributing_table('{table}')")
    op.execute(
        "ALTER TABLE trace_last_positions DROP CONSTRAINT IF EXISTS "
        "trace_last_positions_person_id_fkey"
    )
    for table in ("trace_points", *CO_LOCATED):
        _own(table)
    # As many shards as the database's ``citus.shard_count`` (Citus's default 32; the
    # test database of ``qonys services --citus`` sets fewer, see backend/citus.py).
    op.execute("SELECT create_distributed_table('trace_points', 'person_id')")
    for table in CO_LOCATED:
        op.execute(
            f"SELECT create_distributed_table('{table}', 'person_id', "
            "colocate_with => 'trace_points')"
        )
    for table in ("trace_points", *CO_LOCATED):
        op.execute(f"SELECT truncate_local_data_after_distributing_table('{table}')")


def downgrade() -> None:
    if not _on_citus():
        return
    # Tables with foreign keys to local and reference tables: one connection per node.
    op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    for table in (*CO_LOCATED, "trace_points"):
        _own(table)
        op.execute(f"SELECT undistribute_table('{table}')")
    op.execute(
        "ALTER TABLE trace_last_positions ADD CONSTRAINT trace_last_positions_person_id_fkey "
        "FOREIGN KEY (person_id) REFERENCES persons(id) ON DELETE CASCADE NOT VALID"
    )
    for table in reversed(REFERENCE):
        # (undistributing one also undistributes those it is linked to by foreign keys)
        op.execute(
            f"SELECT undistribute_table('{table}', cascade_via_foreign_keys => true)"
            f" FROM pg_dist_partition WHERE logicalrelid = '{table}'::regclass"
        )
