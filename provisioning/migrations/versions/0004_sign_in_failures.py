"""Failed sign-ins counted per attempted username (existing or not), not per user row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import provisioning.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    failures = op.create_table(
        "sign_in_failures",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", provisioning.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", provisioning.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_failures_last_failed_at"), ["last_failed_at"], unique=False)

    # Carry over the locks in force, keyed as provisioning.users keys them.
    users = sa.table(
        "users",
        sa.column("username", sa.String()),
        sa.column("locked_until", provisioning.models.UTCDateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    rows = op.get_bind().execute(sa.select(users.c.username, users.c.locked_until)).all()
    locked = [
        {
            "key": hashlib.sha256(username.strip().lower().encode()).hexdigest(),
            "failures": 0,
            "last_failed_at": now,
            "locked_until": until,
        }
        for username, until in rows
        if until is not None and until > now
    ]
    if locked:
        op.bulk_insert(failures, locked)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("locked_until", provisioning.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_failures_last_failed_at"))
    op.drop_table("sign_in_failures")
