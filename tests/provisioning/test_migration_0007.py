"""Migration 0007: the suspension columns of `stores`, as provisioning.models.Store declares them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import provisioning.models  # noqa: F401  (registers the tables)
from tests.provisioning.test_migration_0004 import to
from tests.provisioning.test_migration_0008 import LATER_COLUMNS, later

COLUMNS = {"suspended_at", "suspended_reason", "suspended_by_admin", "resuming_started_at", "scale_applied_at"}
# Added by later migrations (tests/provisioning/test_migration_0008.py checks them).
LATER = {"plan", "previous_plan", "plan_changed_at", "plan_applied_at", "volume_sizes"} | LATER_COLUMNS


def stores_columns(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {c["name"] for c in inspect(connection).get_columns("stores")}


def test_upgrade_matches_the_model_keeps_rows_and_downgrade_drops_the_columns(engine: Engine) -> None:
    to(engine, "0006")
    assert not COLUMNS & stores_columns(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, display_name, email, password_hash, role, disabled, created_at) "
                "VALUES ('u', '', '', 'x', 'user', false, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO stores (id, name, active_name, engine, owner_id, namespace, status, message, health, "
                "shopper_status, shopper_message, url, admin_user, attempts, created_at, updated_at) "
                "VALUES ('a' , 'old-shop', 'old-shop', 'woocommerce', (SELECT id FROM users), 'ns', 'ready', '', "
                "'working', '', '', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    to(engine, "0007")
    assert stores_columns(engine) >= COLUMNS
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        row = connection.execute(text("SELECT suspended_reason, suspended_by_admin FROM stores")).one()
    about_stores = [
        d
        for d in diff
        if ("'stores'" in repr(d) or "stores." in repr(d))
        and not any(f"Column('{c}'" in repr(d) for c in LATER)
        and not later(d)
    ]
    assert about_stores == [], about_stores
    assert (row[0], bool(row[1])) == ("", False), "an existing store is not suspended"

    to(engine, "0006", down=True)
    assert not COLUMNS & stores_columns(engine)
    to(engine, "0007")
