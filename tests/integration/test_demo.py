"""`qonys demo load` builds its world from empty, and again without doubling anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests import helpers as h

# Also run on a Citus cluster by `make test` (tests/citus_suites.py).
pytestmark = pytest.mark.citus


def _demo(migrated: Any, data_dir: Path) -> dict[str, str]:
    done = h.qonys(
        "demo",
        "load",
        env={
            "DATABASE_URL": migrated.database_url,
            "REDIS_URL": migrated.redis_url,
            "QONYS_DATA_DIR": str(data_dir),
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)


def test_demo_load_from_empty_then_again(migrated: Any, db: Any, tmp_path: Path) -> None:
    first = _demo(migrated, tmp_path)
    assert int(first["persons"]) > 0 and int(first["trace points"]) > 0
    assert int(first["families admitted"]) > 0
    assert int(first["demo phone points stored"]) > 0
    assert (tmp_path / "demo-tokens.txt").exists()
    assert "permits" in first["status lists"] and "/credential" in first["a permit as a credential"]
    with db.engine.connect() as conn:
        kinds = set(conn.execute(text("SELECT kind FROM alerts WHERE status = 'open'")).scalars())
        breached = conn.execute(
            text("SELECT count(*) FROM settlement_obligations WHERE status = 'suspected'")
        ).scalar_one()
        persons = conn.execute(text("SELECT count(*) FROM persons")).scalar_one()
        # The kandas entered twice, in Cyrillic and in pinyin: one review item (issue 22).
        reviewed = conn.execute(
            text(
                "SELECT count(*) FROM duplicate_reviews r JOIN persons p ON p.id = r.candidate_id"
                " WHERE p.surname = 'Zhanuzakefu'"
            )
        ).scalar_one()
    assert reviewed == 1
    # What the README tour shows: a region alert, an SOS from the phone, a departure.
    assert {"left_permit_region", "sos"} <= kinds
    assert breached == 1
    with db.engine.connect() as conn:
        employer_permits = conn.execute(
            text(
                "SELECT count(*) FROM permits p JOIN api_tokens t ON t.employer_bin = p.employer_bin"
                " WHERE t.label = 'demo employer'"
            )
        ).scalar_one()
        covered = conn.execute(
            text(
                "SELECT count(DISTINCT m.person_id) FROM permits m JOIN api_tokens t"
                " ON t.person_id = m.person_id AND t.role = 'device'"
                " WHERE m.employer_bin IS NULL AND m.status = 'active'"
            )
        ).scalar_one()
        accounts = conn.execute(text("SELECT role FROM users ORDER BY username")).scalars().all()
    # The demo employer's token and account have holders; the demo phones are counted
    # by monitoring coverage (household workers); the tour's browser accounts exist.
    assert employer_permits > 0 and covered >= 1
    assert accounts == ["employer", "officer"]
    assert (tmp_path / "demo-users.txt").read_text().count("=") == 2
    # Telling people: hosts' contacts given for a fresh arrival (the deadline reminder's
    # cases), and the Web Push key the officer's page subscribes with (mode 0600).
    assert first["hosts' contacts awaiting a registration"] == "3"
    with db.engine.connect() as conn:
        cases = conn.execute(
            text("SELECT count(*) FROM person_contacts WHERE arrived_on IS NOT NULL")
        ).scalar_one()
    assert cases == 3
    assert (tmp_path / "vapid_private.pem").stat().st_mode & 0o777 == 0o600
    again = _demo(migrated, tmp_path)
    assert again["hosts' contacts awaiting a registration"] == "0"
    assert again["persons"] == "0" and again["trace points"] == "0"
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM persons")).scalar_one() == persons
