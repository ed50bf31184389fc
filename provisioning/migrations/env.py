"""Alembic environment: runs on the connection handed over by `provisioning.db.migrate`."""

from alembic import context
from sqlmodel import SQLModel

import provisioning.models  # noqa: F401  (registers the tables on the metadata)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through provisioning.db.migrate()")
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
