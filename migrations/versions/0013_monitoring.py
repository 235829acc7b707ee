"""Ministry monitoring: residence-permit pre-selection (docs/domain.md rule 13) with its weights
and threshold as dated policy parameters; the hexagon cell of a point, for density grids
computed in the database.

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
        -- Indicators and monitoring count persons of one category (a household worker,
        -- a citizen): an index-only scan instead of reading all persons (1M: 270 → 60 ms).
        CREATE INDEX persons_category ON persons (category, id);

        -- The cell (i, j) of ST_Hexagon(size, i, j) in Web Mercator (metres) holding a
        -- point given by longitude and latitude: the nearer centre of the two candidate
        -- columns (flat-topped hexagons; odd columns sit half a row higher). One pass
        -- over the points, no grid join (about 1 µs a point; an SQL expression is 15x
        -- slower); ST_Hexagon(size, i, j) then draws the cell.
        CREATE FUNCTION qonys_hex_cell(lon float8, lat float8, size float8) RETURNS int[]
        LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
        DECLARE
            x float8 := 6378137 * radians(lon);
            y float8 := 6378137 * ln(tan(pi() / 4 + radians(lat) / 2));
            h float8 := size * sqrt(3);
            i0 int := floor(x / (1.5 * size));
            i1 int := i0 + 1;
            o0 float8 := CASE WHEN i0 % 2 <> 0 THEN h / 2 ELSE 0 END;
            o1 float8 := CASE WHEN i1 % 2 <> 0 THEN h / 2 ELSE 0 END;
            j0 int := round((y - o0) / h);
            j1 int := round((y - o1) / h);
        BEGIN
            IF (x - 1.5 * size * i0) ^ 2 + (y - h * j0 - o0) ^ 2
               <= (x - 1.5 * size * i1) ^ 2 + (y - h * j1 - o1) ^ 2 THEN
                RETURN ARRAY[i0, j0];
            END IF;
            RETURN ARRAY[i1, j1];
        END
        $$;
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
        DROP INDEX persons_category;
        DROP FUNCTION qonys_hex_cell(float8, float8, float8);
        DELETE FROM policy_parameters
            WHERE name IN ('preselection_weights', 'preselection_threshold');
        """
    )
