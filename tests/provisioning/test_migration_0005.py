"""Migration 0005: the api_tokens table, as provisioning.models.ApiToken declares it."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import provisioning.models  # noqa: F401  (registers the tables)
from tests.provisioning.test_migration_0004 import to


def test_upgrade_matches_the_model_and_downgrade_drops_the_table(engine: Engine) -> None:
    to(engine, "0005")
    with engine.connect() as connection:
        indexes = {i["name"]: i for i in inspect(connection).get_indexes("api_tokens")}
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert indexes["ix_api_tokens_token_hash"]["unique"]
    assert "ix_api_tokens_user_id" in indexes
    about_tokens = [d for d in diff if "api_tokens" in repr(d)]
    assert about_tokens == [], about_tokens

    to(engine, "0004", down=True)
    with engine.connect() as connection:
        assert "api_tokens" not in inspect(connection).get_table_names()
    to(engine, "0005")
