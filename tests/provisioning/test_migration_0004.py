"""Migration 0004: failed sign-ins move from the users table to sign_in_failures (counted
per attempted username, existing or not); a lock in force at the upgrade is kept."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from provisioning.db import MIGRATIONS_DIR
from provisioning.models import utcnow
from provisioning.users import _failures_key


def to(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def columns(engine: Engine, table: str) -> set[str]:
    with engine.connect() as connection:
        return {c["name"] for c in inspect(connection).get_columns(table)}


def test_upgrade_keeps_locks_in_force_and_downgrade_restores_the_columns(engine: Engine) -> None:
    to(engine, "0003")
    now = utcnow()
    insert = text(
        "INSERT INTO users (username, display_name, email, password_hash, role, disabled, failed_logins,"
        " locked_until, created_at) VALUES (:name, '', '', '$2b$04$x', 'user', false, :failed, :until, :now)"
    )
    with engine.begin() as connection:
        for name, failed, until in [("alice", 0, now + timedelta(minutes=10)), ("bob", 2, now - timedelta(hours=1))]:
            connection.execute(insert, {"name": name, "failed": failed, "until": until, "now": now})
    to(engine, "head")
    assert not {"failed_logins", "locked_until"} & columns(engine, "users")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT key, failures FROM sign_in_failures")).all()
    assert [tuple(r) for r in rows] == [(_failures_key("alice"), 0)], "only the lock in force is carried over"
    to(engine, "0003", down=True)
    assert {"failed_logins", "locked_until"} <= columns(engine, "users")
    with engine.connect() as connection:
        assert "sign_in_failures" not in inspect(connection).get_table_names()
        assert connection.execute(text("SELECT failed_logins FROM users")).scalars().all() == [0, 0]
    to(engine, "head")
