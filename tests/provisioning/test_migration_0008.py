"""Migration 0008: the plan columns of `stores`; existing stores get the default plan."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import provisioning.models  # noqa: F401  (registers the tables)
from tests.provisioning.test_migration_0004 import to

COLUMNS = {"plan", "previous_plan", "plan_changed_at", "plan_applied_at", "volume_sizes"}
# Added by later migrations (tests/provisioning/test_migration_0009.py to _0011.py check them).
LATER_COLUMNS = {"restore_backup_id", "restore_phase", "restore_started_at"} | {
    "versions",
    "upgrade_phase",
    "upgrade_from",
    "upgrade_to",
    "upgrade_started_at",
    "upgrade_backup_id",
    "cloned_from",
}
LATER_TABLES = {"backups"}


def later(diff: object) -> bool:
    """Whether an autogenerate diff is about a column or table a later migration adds."""
    text = repr(diff)
    return any(f"Column('{c}'" in text for c in LATER_COLUMNS) or any(f"Table('{t}'" in text for t in LATER_TABLES)


def stores_columns(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {c["name"] for c in inspect(connection).get_columns("stores")}


def test_upgrade_matches_the_model_gives_existing_stores_the_default_plan_and_downgrades(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEFAULT_PLAN", raising=False)
    to(engine, "0007")
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
                "shopper_status, shopper_message, url, admin_user, attempts, created_at, updated_at, "
                "suspended_reason, suspended_by_admin) "
                "VALUES ('a' , 'old-shop', 'old-shop', 'woocommerce', (SELECT id FROM users), 'ns', 'ready', '', "
                "'working', '', '', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', false)"
            )
        )
    to(engine, "0008")
    assert stores_columns(engine) >= COLUMNS
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        row = connection.execute(text("SELECT plan, previous_plan, plan_applied_at, volume_sizes FROM stores")).one()
    about_stores = [d for d in diff if ("'stores'" in repr(d) or "stores." in repr(d)) and not later(d)]
    assert about_stores == [], about_stores
    sizes = row[3] if not isinstance(row[3], str) else json.loads(row[3])
    assert (row[0], row[1], row[2], sizes) == ("small", "", None, None), "an existing store is on the default plan"

    to(engine, "0007", down=True)
    assert not COLUMNS & stores_columns(engine)
    to(engine, "0008")
