from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from backend.cli import alembic_config, migrate
from backend.db import sqlalchemy_url
from gis.reference import load_reference

APP_TABLES = {"regions", "region_parts", "settlements", "persons", "audit_log", "permits"}


def test_empty_to_head_and_back(migrated: Any) -> None:
    cfg = alembic_config(migrated.database_url)
    engine = create_engine(sqlalchemy_url(migrated.database_url))
    try:
        # Past 0001 the audit log goes: refused unless asked for on purpose.
        with pytest.raises(RuntimeError, match="drops the audit log"):
            command.downgrade(cfg, "base")
        assert "audit_log" in inspect(engine).get_table_names()
        cfg.attributes["force_audit_drop"] = True
        command.downgrade(cfg, "base")
        assert APP_TABLES.isdisjoint(inspect(engine).get_table_names())
        command.upgrade(cfg, "head")
        assert set(inspect(engine).get_table_names()) >= APP_TABLES
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == ScriptDirectory.from_config(cfg).get_current_head()
        # Running the upgrade a second time is a no-op.
        command.upgrade(cfg, "head")
        migrate(migrated)  # the runtime role's rights on the new tables
    finally:
        load_reference(engine)
        engine.dispose()
