"""Backups of stores, and the restore in progress on a store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import provisioning.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backups",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("engine", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", provisioning.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", provisioning.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", provisioning.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("backups", schema=None) as batch_op:
        batch_op.create_index("ix_backups_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_backups_store_id"), ["store_id"], unique=False)
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restore_backup_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("restore_phase", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("restore_started_at", provisioning.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("restore_started_at")
        batch_op.drop_column("restore_phase")
        batch_op.drop_column("restore_backup_id")
    with op.batch_alter_table("backups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backups_store_id"))
        batch_op.drop_index("ix_backups_status")
    op.drop_table("backups")
