"""What lets the register be split by person (issue 14), on every engine alike.

- ``register_keys``: a person's keys that must be unique across the whole register (the
  IIN, the source key of an imported person row), each pointing at the person. On a
  Citus coordinator the person tables are distributed by person id, where a unique
  index can only hold within one person's shard; this table (distributed by the key)
  keeps them unique. It is written with the person, on plain PostgreSQL too, where the
  unique indexes of ``persons`` stay as well.
- ``person_id`` on the rows that hang off a person's rows (permit extensions,
  termination notices, support payments), so that they can live on the person's shard.
- A check that found nobody keeps person id 0 ("nobody"), not NULL: every check row has a
  shard.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _run(script: str) -> None:
    # One statement per call: a Citus coordinator refuses several in one string.
    for statement in script.split(";"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _run(
        """
        CREATE TABLE register_keys (
            key varchar(80) PRIMARY KEY,
            person_id bigint NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO register_keys (key, person_id)
            SELECT 'iin:' || iin, id FROM persons WHERE iin IS NOT NULL
            UNION ALL
            SELECT 'person-source:' || source_key, id FROM persons WHERE source_key IS NOT NULL;

        ALTER TABLE permit_extensions ADD COLUMN person_id bigint;
        UPDATE permit_extensions e SET person_id = p.person_id
            FROM permits p WHERE p.id = e.permit_id;
        ALTER TABLE permit_extensions ALTER COLUMN person_id SET NOT NULL;

        ALTER TABLE termination_notices ADD COLUMN person_id bigint;
        UPDATE termination_notices n SET person_id = p.person_id
            FROM permits p WHERE p.id = n.permit_id;
        ALTER TABLE termination_notices ALTER COLUMN person_id SET NOT NULL;

        ALTER TABLE support_payments ADD COLUMN person_id bigint;
        UPDATE support_payments s SET person_id = o.person_id
            FROM settlement_obligations o WHERE o.id = s.obligation_id;
        ALTER TABLE support_payments ALTER COLUMN person_id SET NOT NULL;

        UPDATE officer_checks SET person_id = 0 WHERE person_id IS NULL;
        ALTER TABLE officer_checks ALTER COLUMN person_id SET NOT NULL
        """
    )


def downgrade() -> None:
    _run(
        """
        ALTER TABLE officer_checks ALTER COLUMN person_id DROP NOT NULL;
        UPDATE officer_checks SET person_id = NULL WHERE person_id = 0;
        ALTER TABLE support_payments DROP COLUMN person_id;
        ALTER TABLE termination_notices DROP COLUMN person_id;
        ALTER TABLE permit_extensions DROP COLUMN person_id;
        DROP TABLE register_keys
        """
    )
