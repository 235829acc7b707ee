"""Each registry of values equals the database CHECK that guards the same column."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from backend.models.registries import DATABASE_CHECKS

# On Citus (tests/citus_suites.py) only the tests marked below: the rest exercise
# nothing that differs between the engines.


def _check_values(db: Any, constraint: str) -> list[str]:
    with db.engine.connect() as conn:
        # (a Citus coordinator also holds its shard of each reference table, whose CHECK has
        # the same name, the table's name plus a suffix: the table's own comes first)
        check = conn.execute(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :c"
                " ORDER BY length(conrelid::regclass::text) LIMIT 1"
            ),
            {"c": constraint},
        ).scalar_one()
    return sorted(part.split("'")[1] for part in check.split("ARRAY[")[1].split(","))


@pytest.mark.citus
@pytest.mark.parametrize("name", sorted(DATABASE_CHECKS))
def test_registry_equals_its_database_check(db: Any, name: str) -> None:
    values, constraint = DATABASE_CHECKS[name]
    assert _check_values(db, constraint) == sorted(values), name


@pytest.mark.citus
def test_an_unknown_value_is_refused_by_the_database(db: Any) -> None:
    """The CHECK is real: a kind missing from the registry cannot be stored either."""
    with pytest.raises(Exception, match="alerts_kind_check"), db.transaction() as session:
        session.execute(text("INSERT INTO alerts (person_id, kind) VALUES (1, 'not_a_kind')"))
