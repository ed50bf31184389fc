"""Database engine, sessions and migrations.

Migrations run through Alembic on every start (`migrate`), on SQLite and PostgreSQL alike.
SQLite gets a busy timeout and BEGIN IMMEDIATE transactions so that concurrent writers
(portal threads and the worker) serialise instead of failing with "database is locked",
which keeps the per-user limits exact on the embedded backend too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from provisioning.observability.metrics import watch_database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create an engine with the per-backend settings the platform depends on."""
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        _make_sqlite_transactions_immediate(engine)
    else:
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        engine = create_engine(database_url, pool_pre_ping=True, **kwargs)
    watch_database(engine)  # store_platform_database_errors_total
    return engine


def _make_sqlite_transactions_immediate(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# pg_advisory_xact_lock key for migrations ("SPMIGRAT" as a 64-bit integer).
MIGRATION_LOCK_KEY = 0x53504D4947524154


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent), once across processes.

    Every process (portal replicas, the worker) migrates at start. On a first install they
    start together: on PostgreSQL a transaction-scoped advisory lock makes the others wait
    and then find the schema at head (DDL is transactional there, so the lock covers the
    whole upgrade). SQLite's BEGIN IMMEDIATE already serialises writers.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
