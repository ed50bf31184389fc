"""Shopper-path check results, and why a store failed (a timeout alone can still recover).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

import provisioning.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("shopper_status", sa.String(length=16), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("shopper_message", sa.String(length=1000), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("shopper_checked_at", provisioning.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("shopper_checked_at")
        batch_op.drop_column("shopper_message")
        batch_op.drop_column("shopper_status")
        batch_op.drop_column("failure_kind")
