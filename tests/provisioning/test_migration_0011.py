"""Migration 0011: the clone's source backup column, empty for existing stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import provisioning.models  # noqa: F401  (registers the tables)
from tests.provisioning.test_migration_0004 import to
from tests.provisioning.test_migration_0010 import columns


def test_existing_stores_are_not_clones_and_the_schema_matches_the_model(engine: Engine) -> None:
    to(engine, "0010")
    assert "cloned_from" not in columns(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, display_name, email, password_hash, role, disabled, created_at) "
                "VALUES ('u', '', '', 'x', 'user', false, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO stores (id, name, active_name, engine, owner_id, namespace, status, message, "
                "health, shopper_status, shopper_message, url, admin_user, attempts, created_at, updated_at, "
                "suspended_reason, suspended_by_admin, plan, previous_plan, restore_phase, upgrade_phase) "
                "VALUES ('a', 'sa', 'sa', 'woocommerce', (SELECT id FROM users), 'ns', 'ready', '', 'working', "
                "'', '', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', false, 'small', '', '', '')"
            )
        )
    to(engine, "0011")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT cloned_from FROM stores WHERE id = 'a'")).scalar_one() == ""
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert [d for d in diff if "stores" in repr(d)] == []
    to(engine, "0010", down=True)
    assert "cloned_from" not in columns(engine)
