"""Issue 24 (policy, round 2): the law of the right year, three kinds of source, the
social contract and the repayment claim, intra-regional resettlement by seed 004.

- Designated areas are the six regions of seed 002 action 41 for 2023-2025 and the eight
  of seed 003 from 2026; the 5-year obligation and pre-selection take effect 2026-01-01
  (seed 003: «С 2026 года»). An admission before that is ``unbound``: support recorded,
  nothing owed.
- Sources are ``seed``, ``statute`` (an act outside the seeds: the MRP of each year's
  budget law) or ``assumption``; the mislabelled rows are corrected.
- New dated parameters: the dwell before ``left_settlement_region`` and the years of
  residence before rule-12 eligibility (both assumptions).
- Admission records the social contract; a departure becomes a claim issued by two
  ``settlement_official`` accounts (new role).
- Settlement inputs gain rural/urban and low economic potential (seed 004 p. 2(7)); an
  application records the housing and the job of an intra-regional move.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04
"""

import json
from datetime import UTC, datetime

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.
POLICY_SOURCES = ("seed", "statute", "assumption")
ROLES = ("admin", "analyst", "officer", "employer", "device", "settlement_official")
STAFF_ROLES = ("admin", "analyst", "officer", "employer", "settlement_official")
OBLIGATION_STATUSES = ("active", "suspected", "breached", "fulfilled", "unbound")
CLAIM_STATUSES = ("suspected", "claim_issued", "paid", "contested", "withdrawn")

SET_BY = "migration 0021"
START = "2023-01-01"
FROM_2026 = "2026-01-01"
# Seed 002, action 41: adaptation centres in Abai, Akmola, North Kazakhstan, Pavlodar,
# East Kazakhstan and Kostanay regions, the regions of settlement of the Concept's years.
SIX = ["100000000", "110000000", "590000000", "550000000", "630000000", "390000000"]
# Seed 003 (2026): the same six with Atyrau and West Kazakhstan.
EIGHT = [*SIX, "230000000", "270000000"]
# The MRP is fixed by each year's law on the republican budget (title cited; the article
# and the act's number are for the official who confirms the value to add).
BUDGET_LAWS = {
    year: f"Закон РК «О республиканском бюджете на {year}-{year + 2} годы»"
    for year in (2023, 2024, 2025, 2026)
}
# (name, effective_from, value, source, reference) replacing or adding rows.
ROWS: list[tuple[str, str, object, str, str]] = [
    ("designated_areas", START, SIX, "seed", "seed 002, action 41 (2023-2025)"),
    ("designated_areas", FROM_2026, EIGHT, "seed", "seed 003 («С 2026 года», the 8 regions)"),
    ("obligation_years", FROM_2026, 5, "seed", "seed 003 («пятилетнего срока», с 2026 года)"),
    (
        "obligation_applies_to_resettlers",
        START,
        False,
        "assumption",
        "no act cited: seed 003 binds kandas only; switch on from the day an act applies",
    ),
    (
        "mobility_certificate_share",
        START,
        0.5,
        "seed",
        "seed 000 («50% от стоимости жилья … взамен выдаваемого жилья»); "
        "seed 002 initiative 23, action 39",
    ),
    (
        "north_east_regions",
        START,
        ["110000000", "390000000", "550000000", "590000000", "630000000", "100000000"],
        "assumption",
        "inferred: seed 002 table 1 no. 3 says «северные и восточные регионы» and names none",
    ),
    (
        "preselection_weights",
        FROM_2026,
        {"language": 0.3, "questionnaire": 0.2, "interview": 0.5},
        "assumption",
        "seed 003 (the parts, с 2026 года); the weights are an assumption",
    ),
    (
        "preselection_threshold",
        FROM_2026,
        60,
        "assumption",
        "seed 003 (a threshold, с 2026 года); its value is an assumption",
    ),
    (
        "left_region_dwell_hours",
        START,
        24,
        "assumption",
        "operational: hours a settler's phone stays outside the region before an alert",
    ),
    (
        "eligibility_residence_years",
        START,
        5,
        "assumption",
        "seed 000 «после определенного срока постоянного проживания»: no number given; "
        "taken equal to the 5-year stay of seed 003",
    ),
    *(
        ("mrp", f"{year}-01-01", kzt, "statute", BUDGET_LAWS[year])
        for year, kzt in ((2023, 3450), (2024, 3692), (2025, 3932), (2026, 4325))
    ),
]
# Rows of migrations 0012/0013 that no longer hold from these days (the rule starts later).
MOVED = [("obligation_years", START), ("preselection_weights", START)]
MOVED += [("preselection_threshold", START)]


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _each(sql: str) -> None:
    """One statement a call: Citus refuses several in one prepared statement."""
    for statement in sql.split(";\n"):
        code = [line for line in statement.splitlines() if not line.strip().startswith("--")]
        if "".join(code).strip():
            op.execute(statement)


def upgrade() -> None:
    _each(
        f"""
        -- One subcommand a statement where a constraint is added: Citus refuses more.
        ALTER TABLE policy_parameters DROP CONSTRAINT policy_parameters_source_check;
        ALTER TABLE policy_parameters ADD CONSTRAINT policy_parameters_source_check
                CHECK (source IN ({_quoted(POLICY_SOURCES)}));
        -- "settlement_official" is longer than the 16 characters roles had.
        ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
        ALTER TABLE api_tokens ALTER COLUMN role TYPE varchar(32);
        ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
            CHECK (role IN ({_quoted(ROLES)}));
        ALTER TABLE users DROP CONSTRAINT users_role_check;
        ALTER TABLE users ALTER COLUMN role TYPE varchar(32);
        ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ({_quoted(STAFF_ROLES)}));
        ALTER TABLE audit_log ALTER COLUMN role TYPE varchar(32);
        ALTER TABLE settlement_obligations DROP CONSTRAINT settlement_obligations_status_check;
        ALTER TABLE settlement_obligations ADD CONSTRAINT settlement_obligations_status_check
                CHECK (status IN ({_quoted(OBLIGATION_STATUSES)}));
        ALTER TABLE settlement_obligations
            -- The social contract (seed 003): the basis of any repayment.
            ADD COLUMN contract_number varchar(40),
            ADD COLUMN contract_signed_on date,
            ADD COLUMN contract_terms jsonb,
            ADD COLUMN support_promised jsonb,
            -- The claim: the departure dated by evidence, its lines, who issued it.
            ADD COLUMN claim_status varchar(16),
            ADD COLUMN departed_on date,
            ADD COLUMN claim_lines jsonb,
            ADD COLUMN claim_issued_by varchar(64),
            ADD COLUMN claim_issued_at timestamptz;
        ALTER TABLE settlement_obligations ADD CONSTRAINT settlement_obligations_claim_status_check
                CHECK (claim_status IN ({_quoted(CLAIM_STATUSES)}));
        ALTER TABLE settlement_applications
            ADD COLUMN admitted_on date,
            ADD COLUMN origin_settlement_kato varchar(9),
            ADD COLUMN housing text,
            ADD COLUMN job text;
        ALTER TABLE settlement_indicators
            ADD COLUMN is_urban boolean,
            ADD COLUMN low_potential boolean;
        -- A computation a daily job could not make: the parameter and the day it lacked.
        CREATE TABLE policy_gaps (
            name varchar(64) NOT NULL,
            day date NOT NULL,
            job text NOT NULL,
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            PRIMARY KEY (name, day, job)
        );
        """
    )
    bind = op.get_bind()
    # Read by nothing: the permit tax is removed rather than kept as a dead number.
    bind.exec_driver_sql("DELETE FROM policy_parameters WHERE name = 'permit_tax_mrp_per_month'")
    for name, effective_from in MOVED:
        bind.exec_driver_sql(
            "DELETE FROM policy_parameters WHERE name = %s AND effective_from = %s",
            (name, effective_from),
        )
    now = datetime.now(UTC)
    for name, effective_from, value, source, reference in ROWS:
        bind.exec_driver_sql(
            "INSERT INTO policy_parameters (name, effective_from, value, source, reference,"
            " set_by) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name, effective_from)"
            " DO UPDATE SET value = EXCLUDED.value, source = EXCLUDED.source,"
            # The time as a value: Citus takes no volatile function in DO UPDATE.
            " reference = EXCLUDED.reference, set_by = EXCLUDED.set_by, set_at = %s",
            (name, effective_from, json.dumps(value), source, reference, SET_BY, now),
        )


def downgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(
        "INSERT INTO policy_parameters (name, effective_from, value, source, reference)"
        " VALUES ('permit_tax_mrp_per_month', '2023-01-01', '2', 'assumption',"
        " 'docs/domain.md rule 9')"
        " ON CONFLICT DO NOTHING"
    )
    bind.exec_driver_sql(
        "DELETE FROM policy_parameters WHERE name IN "
        "('left_region_dwell_hours', 'eligibility_residence_years')"
        " OR (name = 'designated_areas' AND effective_from = %s)",
        (FROM_2026,),
    )
    bind.exec_driver_sql(
        "UPDATE policy_parameters SET effective_from = %s WHERE name IN"
        " ('obligation_years', 'preselection_weights', 'preselection_threshold')",
        (START,),
    )
    bind.exec_driver_sql(
        "UPDATE policy_parameters SET value = %s WHERE name = 'designated_areas'",
        (json.dumps(EIGHT),),
    )
    _each(
        """
        UPDATE policy_parameters SET source = 'assumption' WHERE source = 'statute';
        UPDATE policy_parameters SET value = 'true'
            WHERE name = 'obligation_applies_to_resettlers';
        DROP TABLE policy_gaps;
        ALTER TABLE settlement_indicators DROP COLUMN is_urban, DROP COLUMN low_potential;
        ALTER TABLE settlement_applications DROP COLUMN admitted_on,
            DROP COLUMN origin_settlement_kato, DROP COLUMN housing, DROP COLUMN job;
        UPDATE settlement_obligations SET status = 'fulfilled' WHERE status = 'unbound';
        ALTER TABLE settlement_obligations DROP CONSTRAINT settlement_obligations_status_check;
        ALTER TABLE settlement_obligations ADD CONSTRAINT settlement_obligations_status_check
                CHECK (status IN ('active', 'suspected', 'breached', 'fulfilled'));
        ALTER TABLE settlement_obligations
            DROP COLUMN contract_number, DROP COLUMN contract_signed_on,
            DROP COLUMN contract_terms, DROP COLUMN support_promised,
            DROP COLUMN claim_status, DROP COLUMN departed_on, DROP COLUMN claim_lines,
            DROP COLUMN claim_issued_by, DROP COLUMN claim_issued_at;
        DELETE FROM api_tokens WHERE role = 'settlement_official';
        DELETE FROM users WHERE role = 'settlement_official';
        ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
        ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
                CHECK (role IN ('admin', 'analyst', 'officer', 'employer', 'device'));
        ALTER TABLE users DROP CONSTRAINT users_role_check;
        ALTER TABLE users ADD CONSTRAINT users_role_check
                CHECK (role IN ('admin', 'analyst', 'officer', 'employer'));
        ALTER TABLE policy_parameters DROP CONSTRAINT policy_parameters_source_check;
        ALTER TABLE policy_parameters ADD CONSTRAINT policy_parameters_source_check
                CHECK (source IN ('seed', 'assumption'));
        """
    )
