"""The versions each store runs, and the upgrade in progress.

Existing stores are recorded with the pins in force when the migration runs (the
versions they were most likely provisioned with), so each can be upgraded and rolled back
like a new one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

import provisioning.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _pins() -> dict[str, dict[str, str]]:
    from provisioning.catalog.versions import VERSION_FIELDS, pinned
    from provisioning.settings import Settings

    try:
        settings = Settings.from_env()
    except Exception:  # a partial environment (e.g. `alembic upgrade` by hand): the defaults
        settings = Settings()
    return {engine: pinned(settings, engine) for engine in VERSION_FIELDS}


def upgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("versions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("upgrade_phase", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("upgrade_from", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("upgrade_to", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("upgrade_started_at", provisioning.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("upgrade_backup_id", sa.String(length=32), nullable=True))
    for engine, versions in _pins().items():
        op.execute(
            sa.text("UPDATE stores SET versions = :versions WHERE engine = :engine AND versions IS NULL").bindparams(
                sa.bindparam("versions", value=versions, type_=sa.JSON()), engine=engine
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        for column in ("upgrade_backup_id", "upgrade_started_at", "upgrade_to", "upgrade_from", "upgrade_phase"):
            batch_op.drop_column(column)
        batch_op.drop_column("versions")
