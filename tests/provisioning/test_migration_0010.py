"""Migration 0010: each store's versions (existing stores get today's pins) and the upgrade columns."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import provisioning.models  # noqa: F401  (registers the tables)
from provisioning.catalog import versions
from provisioning.settings import Settings
from tests.provisioning.test_migration_0004 import to

COLUMNS = {"versions", "upgrade_phase", "upgrade_from", "upgrade_to", "upgrade_started_at", "upgrade_backup_id"}


def columns(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {c["name"] for c in inspect(connection).get_columns("stores")}


def test_existing_stores_get_todays_pins_and_the_schema_matches_the_model(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARIADB_IMAGE", "mariadb:11.4.9")
    to(engine, "0009")
    assert not COLUMNS & columns(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (username, display_name, email, password_hash, role, disabled, created_at) "
                "VALUES ('u', '', '', 'x', 'user', false, CURRENT_TIMESTAMP)"
            )
        )
        for store_id, engine_name in (("a", "woocommerce"), ("b", "medusa")):
            connection.execute(
                text(
                    "INSERT INTO stores (id, name, active_name, engine, owner_id, namespace, status, message, "
                    "health, shopper_status, shopper_message, url, admin_user, attempts, created_at, updated_at, "
                    "suspended_reason, suspended_by_admin, plan, previous_plan, restore_phase) "
                    f"VALUES ('{store_id}', 's{store_id}', 's{store_id}', '{engine_name}', (SELECT id FROM users), "
                    "'ns', 'ready', '', 'working', '', '', '', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', "
                    "false, 'small', '', '')"
                )
            )
    to(engine, "0010")
    assert columns(engine) >= COLUMNS
    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT id, versions FROM stores")).all())
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    recorded = {k: v if isinstance(v, dict) else json.loads(v) for k, v in rows.items()}
    pins = Settings.from_env()
    assert recorded["a"] == versions.pinned(pins, "woocommerce") and recorded["a"]["mariadb"] == "mariadb:11.4.9"
    assert recorded["b"] == versions.pinned(pins, "medusa")
    assert [d for d in diff if "stores" in repr(d) and "cloned_from" not in repr(d)] == []  # 0011 adds it
    to(engine, "0009", down=True)
    assert not COLUMNS & columns(engine)
