"""Suspend and resume: why and by whom a store is suspended, and the transition's progress.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

import provisioning.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspended_at", provisioning.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("suspended_reason", sa.String(length=500), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("suspended_by_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("resuming_started_at", provisioning.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("scale_applied_at", provisioning.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("scale_applied_at")
        batch_op.drop_column("resuming_started_at")
        batch_op.drop_column("suspended_by_admin")
        batch_op.drop_column("suspended_reason")
        batch_op.drop_column("suspended_at")
