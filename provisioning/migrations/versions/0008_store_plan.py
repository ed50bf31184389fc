"""Plans: each store's plan, the plan change in progress, and its volumes' sizes.

Existing stores get the default plan (DEFAULT_PLAN when set at migration time, else
"small", whose sizes are those of the STORE_QUOTA_* and STORE_VOLUME_SIZE settings they
were provisioned with).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

import os

import sqlalchemy as sa
from alembic import op

import provisioning.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("previous_plan", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("plan_changed_at", provisioning.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("plan_applied_at", provisioning.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("volume_sizes", sa.JSON(), nullable=True))
    default = (os.environ.get("DEFAULT_PLAN") or "small").strip()[:32]
    op.execute(sa.text("UPDATE stores SET plan = :plan WHERE plan = ''").bindparams(plan=default))


def downgrade() -> None:
    with op.batch_alter_table("stores", schema=None) as batch_op:
        batch_op.drop_column("volume_sizes")
        batch_op.drop_column("plan_applied_at")
        batch_op.drop_column("plan_changed_at")
        batch_op.drop_column("previous_plan")
        batch_op.drop_column("plan")
