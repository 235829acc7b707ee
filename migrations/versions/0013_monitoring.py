"""Ministry monitoring: residence-permit pre-selection (DOMAIN rule 13) with its weights
and threshold as dated policy parameters.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

import json

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.PRESELECTION_DECISIONS.
DECISIONS = ("pass", "fail")
# Seed 003 names the parts; their weights and the threshold are assumptions.
ROWS = [
    (
        "preselection_weights",
        {"language": 0.3, "questionnaire": 0.2, "interview": 0.5},
        "seed 003 (the parts); the weights are an assumption",
    ),
    ("preselection_threshold", 60, "seed 003 (a threshold); its value is an assumption"),
]


def upgrade() -> None:
    decisions = ", ".join(f"'{d}'" for d in DECISIONS)
    op.execute(
        f"""
        CREATE TABLE preselections (
            id bigserial PRIMARY KEY,
            person_id bigint NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            parts jsonb NOT NULL,
            weights jsonb NOT NULL,
            threshold numeric(6, 2) NOT NULL,
            score numeric(6, 2) NOT NULL,
            decision varchar(8) NOT NULL
                CONSTRAINT preselections_decision_check CHECK (decision IN ({decisions})),
            reasons text[] NOT NULL,
            decided_by varchar(64) NOT NULL,
            decided_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX preselections_person ON preselections (person_id, id);
        """
    )
    bind = op.get_bind()
    for name, value, reference in ROWS:
        bind.exec_driver_sql(
            "INSERT INTO policy_parameters (name, effective_from, value, source, reference,"
            " set_by) VALUES (%s, '2023-01-01', %s, 'assumption', %s, 'migration 0013')",
            (name, json.dumps(value), reference),
        )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE preselections;
        DELETE FROM policy_parameters
            WHERE name IN ('preselection_weights', 'preselection_threshold');
        """
    )
