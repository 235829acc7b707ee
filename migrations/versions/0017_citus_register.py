"""On a Citus coordinator: the register itself distributed by person, co-located with the
traces. On a plain PostgreSQL nothing changes.

Every table holding a person's rows is distributed by person id into the traces' shard
group, so one person's register card, permits, alerts, checks, settlement and traces are
on one node and joined there: ``persons`` (by ``id``), ``registrations``, ``permits``,
``permit_extensions``, ``termination_notices``, ``alerts``, ``officer_checks``,
``settlement_applications``, ``settlement_obligations``, ``support_payments``,
``preselections``. ``register_keys`` is distributed by its key, ``employers`` becomes a
reference table.

Citus keeps a unique index only where it holds the distribution column, so:
- primary keys become (person_id, id) — ids still come from one sequence each;
- the IIN and an imported person's source key are kept unique by ``register_keys``
  (written with every person since 0016); a permit number comes from a sequence;
- the other unique keys gain the person id (an imported row's source key, a permit's one
  notice, an application's one obligation, a subsidy month paid once);
- foreign keys between these tables gain the person id, so that they stay on one shard.

The audit log, the tokens and the accounts stay on the coordinator.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28
"""

from alembic import op
from sqlalchemy import text

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Distributed by person id in this order (a table after those it references).
PERSON_TABLES = (
    "persons",
    "registrations",
    "permits",
    "permit_extensions",
    "termination_notices",
    "alerts",
    "officer_checks",
    "settlement_applications",
    "settlement_obligations",
    "support_payments",
    "preselections",
)
# (table, constraint, the key as it is on Citus: by person)
FOREIGN_KEYS = (
    (
        "registrations",
        "registrations_person_id_fkey",
        "(person_id) REFERENCES persons(id) ON DELETE CASCADE",
    ),
    ("permits", "permits_person_id_fkey", "(person_id) REFERENCES persons(id) ON DELETE CASCADE"),
    ("alerts", "alerts_person_id_fkey", "(person_id) REFERENCES persons(id) ON DELETE CASCADE"),
    (
        "settlement_applications",
        "settlement_applications_person_id_fkey",
        "(person_id) REFERENCES persons(id) ON DELETE CASCADE",
    ),
    (
        "settlement_obligations",
        "settlement_obligations_person_id_fkey",
        "(person_id) REFERENCES persons(id) ON DELETE CASCADE",
    ),
    (
        "preselections",
        "preselections_person_id_fkey",
        "(person_id) REFERENCES persons(id) ON DELETE CASCADE",
    ),
    (
        "permit_extensions",
        "permit_extensions_permit_id_fkey",
        "(person_id, permit_id) REFERENCES permits(person_id, id) ON DELETE CASCADE",
    ),
    (
        "termination_notices",
        "termination_notices_permit_id_fkey",
        "(person_id, permit_id) REFERENCES permits(person_id, id) ON DELETE CASCADE",
    ),
    (
        "settlement_obligations",
        "settlement_obligations_application_id_fkey",
        "(person_id, application_id) REFERENCES settlement_applications(person_id, id)",
    ),
    (
        "support_payments",
        "support_payments_obligation_id_fkey",
        "(person_id, obligation_id) REFERENCES settlement_obligations(person_id, id)"
        " ON DELETE CASCADE",
    ),
)
# Unique keys without the person id: (table, name, replacement with it, or None to drop).
UNIQUE = (
    ("persons", "persons_iin_key", None),
    ("persons", "persons_source_key_key", None),
    ("registrations", "registrations_source_key_key", "(person_id, source_key)"),
    ("permits", "permits_number_key", None),
    ("permits", "permits_source_key_key", "(person_id, source_key)"),
    ("termination_notices", "termination_notices_permit_id_key", "(person_id, permit_id)"),
    (
        "settlement_obligations",
        "settlement_obligations_application_id_key",
        "(person_id, application_id)",
    ),
)


def _on_citus() -> bool:
    bind = op.get_bind()
    return bool(bind.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")))


def _own(table: str) -> None:
    """Citus distributes a table only for its owner (see 0015)."""
    bind = op.get_bind()
    owner = bind.scalar(text("SELECT tableowner FROM pg_tables WHERE tablename = :t"), {"t": table})
    if owner != bind.scalar(text("SELECT current_user")):
        op.execute(f"ALTER TABLE {table} OWNER TO CURRENT_USER")


def upgrade() -> None:
    if not _on_citus():
        return
    # The tables are linked by foreign keys to the reference tables: one connection per
    # node, as Citus asks when a transaction changes both.
    op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    for table in (*PERSON_TABLES, "register_keys", "employers"):
        _own(table)
    # Foreign keys first: Citus distributes tables, then they are linked again by person.
    for table, name, _ in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table, name, _ in UNIQUE:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table in PERSON_TABLES[1:]:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (person_id, id)")
    op.execute("DROP INDEX support_payments_installment")
    op.execute(
        "CREATE UNIQUE INDEX support_payments_installment ON support_payments "
        "(person_id, obligation_id, item, installment) WHERE installment IS NOT NULL"
    )
    op.execute("SELECT create_reference_table('employers')")
    op.execute("SELECT create_distributed_table('persons', 'id', colocate_with => 'trace_points')")
    for table in PERSON_TABLES[1:]:
        op.execute(
            f"SELECT create_distributed_table('{table}', 'person_id', "
            "colocate_with => 'trace_points')"
        )
    # citus.shard_count of the database, as for the traces (0015).
    op.execute("SELECT create_distributed_table('register_keys', 'key')")
    for table, name, definition in UNIQUE:
        if definition:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE {definition}")
    for table, name, definition in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {definition}")
    for table in (*PERSON_TABLES, "register_keys", "employers"):
        op.execute(f"SELECT truncate_local_data_after_distributing_table('{table}')")


# What the tables were on one node: the keys as 0002-0016 made them.
SINGLE_NODE_FOREIGN_KEYS = {
    "permit_extensions_permit_id_fkey": "(permit_id) REFERENCES permits(id) ON DELETE CASCADE",
    "termination_notices_permit_id_fkey": "(permit_id) REFERENCES permits(id) ON DELETE CASCADE",
    "settlement_obligations_application_id_fkey": (
        "(application_id) REFERENCES settlement_applications(id)"
    ),
    "support_payments_obligation_id_fkey": (
        "(obligation_id) REFERENCES settlement_obligations(id) ON DELETE CASCADE"
    ),
}
SINGLE_NODE_UNIQUE = {
    "persons_iin_key": "(iin)",
    "persons_source_key_key": "(source_key)",
    "registrations_source_key_key": "(source_key)",
    "permits_number_key": "(number)",
    "permits_source_key_key": "(source_key)",
    "termination_notices_permit_id_key": "(permit_id)",
    "settlement_obligations_application_id_key": "(application_id)",
}


def downgrade() -> None:
    if not _on_citus():
        return
    op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
    for table, name, _ in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table, name, definition in UNIQUE:
        if definition:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    # Citus undistributes a table only without foreign keys to other Citus tables: the
    # keys to the geography and to employers are set aside and put back afterwards.
    bind = op.get_bind()
    aside = bind.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint WHERE contype = 'f'"
            " AND conrelid::regclass::text = ANY(:tables)"
        ),
        {"tables": list(PERSON_TABLES)},
    ).all()
    for table, name, _ in aside:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table in (*reversed(PERSON_TABLES), "register_keys", "employers"):
        _own(table)
        op.execute(f"SELECT undistribute_table('{table}')")
    op.execute("DROP INDEX support_payments_installment")
    op.execute(
        "CREATE UNIQUE INDEX support_payments_installment ON support_payments "
        "(obligation_id, item, installment) WHERE installment IS NOT NULL"
    )
    for table in PERSON_TABLES[1:]:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
    for table, name, _ in UNIQUE:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE {SINGLE_NODE_UNIQUE[name]}")
    for table, name, definition in FOREIGN_KEYS:
        single = SINGLE_NODE_FOREIGN_KEYS.get(name, definition)
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY {single}")
    for table, name, definition in aside:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
