"""Legal numbers as dated data (docs/domain.md rules 1-11): policy parameters with the day they
take effect, replacing settings defaults, code literals and the MRP table; foreigner
registration deadlines (rule 8); kandas who take permanent residence on general terms
(rule 6); a breach confirmed by two administrators (rule 6, separation of duties).

The rows below are the values in force when this revision was written, each with its
source: a seed document, or an assumption from public reporting. Later values are added
with ``qonys policy set`` or ``PUT /api/v1/policy-parameters/{name}``, never here.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

import json

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# As of this revision; tests prove they equal backend.models.registries.POLICY_SOURCES.
POLICY_SOURCES = ("seed", "assumption")
DESIGNATED = [
    "110000000",  # Akmola
    "100000000",  # Abai
    "390000000",  # Kostanay
    "550000000",  # Pavlodar
    "230000000",  # Atyrau
    "270000000",  # West Kazakhstan
    "630000000",  # East Kazakhstan
    "590000000",  # North Kazakhstan
]
NORTH_EAST = ["110000000", "390000000", "550000000", "590000000", "630000000", "100000000"]
# Northern (Akmola, Kostanay, Pavlodar, North Kazakhstan) and centre-east (Karaganda,
# Ulytau, East Kazakhstan, Abai) macroregion of the concept's expected results.
MACROREGION = [
    "110000000",
    "390000000",
    "550000000",
    "590000000",
    "350000000",
    "620000000",
    "630000000",
    "100000000",
]
START = "2023-01-01"  # the Concept 2023-2027 and the rules of seed 003 apply from here
TABLE_1 = {
    "target_external_migration_balance": (-18.0, -12.3, -7.2, -3.1, 0.1),
    "target_qualified_arrivals_share": (0.413, 0.435, 0.458, 0.472, 0.487),
    "target_internal_mobility_share": (0.132, 0.137, 0.143, 0.150, 0.162),
    "target_kazakh_card_holders": (5, 10, 15, 30, 40),
    "target_foreign_students_share": (0.05, 0.055, 0.06, 0.08, 0.10),
    "target_investment_visas": (5, 10, 15, 30, 40),
    "target_monitoring_coverage": (0.10, 0.25, 0.50, 0.75, 0.95),
}
SEED_002 = "seed 002, Concept of migration policy 2023-2027, table 1"
ROWS: list[tuple[str, str, object, str, str]] = [
    ("designated_areas", START, DESIGNATED, "seed", "seed 003; seed 004 p. 4"),
    ("obligation_years", START, 5, "seed", "seed 003"),
    ("obligation_applies_to_resettlers", START, True, "assumption", "docs/domain.md rule 6"),
    ("relocation_mrp_per_member", START, 70, "assumption", "docs/domain.md rule 6"),
    ("housing_subsidy_mrp_min", START, 15, "assumption", "docs/domain.md rule 6"),
    ("housing_subsidy_mrp_max", START, 30, "assumption", "docs/domain.md rule 6"),
    ("housing_subsidy_months", START, 12, "assumption", "docs/domain.md rule 6"),
    ("mobility_certificate_share", START, 0.5, "assumption", "seed 000; seed 002 init. 23"),
    ("list_deadline", START, "12-15", "seed", "seed 004 p. 7-8"),
    ("permit_min_months", START, 1, "assumption", "docs/domain.md rule 9"),
    ("permit_max_months", START, 12, "assumption", "docs/domain.md rule 9"),
    ("permit_tax_mrp_per_month", START, 2, "assumption", "docs/domain.md rule 9"),
    ("termination_notice_days", START, 10, "assumption", "docs/domain.md rule 10"),
    ("registration_host_working_days", START, 3, "assumption", "docs/domain.md rule 8"),
    ("registration_self_days", "2026-07-01", 30, "assumption", "docs/domain.md rule 8"),
    ("silent_device_working_days", START, 3, "assumption", "docs/domain.md rule 11"),
    (
        "zone_weights",
        START,
        {
            "labour_demand": 0.35,
            "quota_headroom": 0.20,
            "infrastructure": 0.30,
            "population_trend": 0.15,
        },
        "assumption",
        "seed 002 action 24",
    ),
    ("zone_a_min", START, 70, "assumption", "seed 002 action 24"),
    ("zone_b_min", START, 50, "assumption", "seed 002 action 24"),
    ("zone_labour_demand_full", START, 2.0, "assumption", "seed 002 action 24"),
    ("zone_population_trend_span", START, 5.0, "assumption", "seed 002 action 24"),
    ("north_east_regions", START, NORTH_EAST, "seed", SEED_002 + ", no. 3"),
    ("coverage_reported_within_days", START, 7, "assumption", SEED_002 + ", no. 7"),
    ("retention_macroregion", START, MACROREGION, "assumption", "seed 002, expected results"),
    ("target_retention_3y", "2027-01-01", 0.97, "seed", "seed 002, expected results"),
    ("mrp", "2023-01-01", 3450, "assumption", "Budget law 2023"),
    ("mrp", "2024-01-01", 3692, "assumption", "Budget law 2024"),
    ("mrp", "2025-01-01", 3932, "assumption", "Budget law 2025"),
    ("mrp", "2026-01-01", 4325, "assumption", "Budget law 2026"),
]
for _name, _targets in TABLE_1.items():
    for _year, _target in zip(range(2023, 2028), _targets, strict=True):
        ROWS.append((_name, f"{_year}-01-01", _target, "seed", SEED_002))


def upgrade() -> None:
    sources = ", ".join(f"'{s}'" for s in POLICY_SOURCES)
    op.execute(
        f"""
        -- Each row: a parameter's value from a day on, until the next row of that name.
        CREATE TABLE policy_parameters (
            name varchar(64) NOT NULL,
            effective_from date NOT NULL,
            value jsonb NOT NULL,
            source varchar(16) NOT NULL
                CONSTRAINT policy_parameters_source_check CHECK (source IN ({sources})),
            reference text,
            set_by text NOT NULL DEFAULT 'migration 0012',
            set_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (name, effective_from)
        );
        ALTER TABLE registrations
            ADD COLUMN arrived_on date,
            ADD COLUMN notified_by varchar(8)
                CONSTRAINT registrations_notified_by_check CHECK (notified_by IN ('host', 'self')),
            ADD COLUMN late_registration boolean NOT NULL DEFAULT false;
        ALTER TABLE persons ADD COLUMN general_terms_on date;
        -- A breach is confirmed by two administrators: the first one's word waits here.
        ALTER TABLE settlement_obligations
            ADD COLUMN confirmation_by varchar(64),
            ADD COLUMN confirmation_reason text,
            ADD COLUMN confirmation_at timestamptz;
        ALTER TABLE regions DROP COLUMN designated_for_settlement;
        DROP TABLE mrp_values;
        """
    )
    bind = op.get_bind()
    for name, effective_from, value, source, reference in ROWS:
        bind.exec_driver_sql(
            "INSERT INTO policy_parameters (name, effective_from, value, source, reference) "
            "VALUES (%s, %s, %s, %s, %s)",
            (name, effective_from, json.dumps(value), source, reference),
        )


def downgrade() -> None:
    designated = ", ".join(f"'{k}'" for k in DESIGNATED)
    op.execute(
        f"""
        CREATE TABLE mrp_values (
            year smallint PRIMARY KEY,
            kzt numeric(12, 2) NOT NULL CHECK (kzt > 0)
        );
        INSERT INTO mrp_values (year, kzt)
            SELECT extract(year FROM effective_from), (value #>> '{{}}')::numeric
            FROM policy_parameters WHERE name = 'mrp';
        ALTER TABLE regions ADD COLUMN designated_for_settlement boolean DEFAULT false;
        UPDATE regions SET designated_for_settlement = kato IN ({designated});
        ALTER TABLE persons DROP COLUMN general_terms_on;
        ALTER TABLE settlement_obligations DROP COLUMN confirmation_by,
            DROP COLUMN confirmation_reason, DROP COLUMN confirmation_at;
        ALTER TABLE registrations DROP COLUMN arrived_on, DROP COLUMN notified_by,
            DROP COLUMN late_registration;
        DROP TABLE policy_parameters;
        """
    )
