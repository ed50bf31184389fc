"""Migration 0009: the `backups` table and the restore columns of `stores`."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import provisioning.models  # noqa: F401  (registers the tables)
from tests.provisioning.test_migration_0004 import to

RESTORE_COLUMNS = {"restore_backup_id", "restore_phase", "restore_started_at"}


def shape(engine: Engine) -> tuple[set[str], set[str]]:
    with engine.connect() as connection:
        inspector = inspect(connection)
        return set(inspector.get_table_names()), {c["name"] for c in inspector.get_columns("stores")}


def test_upgrade_matches_the_model_and_downgrade_removes_it(engine: Engine) -> None:
    to(engine, "0008")
    tables, columns = shape(engine)
    assert "backups" not in tables and not RESTORE_COLUMNS & columns
    to(engine, "0009")
    tables, columns = shape(engine)
    assert "backups" in tables and columns >= RESTORE_COLUMNS
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in diff if "backups" in repr(d) or "restore_" in repr(d)] == []
    to(engine, "0008", down=True)
    tables, columns = shape(engine)
    assert "backups" not in tables and not RESTORE_COLUMNS & columns
