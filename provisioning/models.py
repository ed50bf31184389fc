"""Database tables.

The store row holds everything a page shows (status, message, conditions as JSON), so
listing stores is one query. `active_name` is the store name while the store is live and
NULL once deleted: a plain unique constraint on it gives "unique among live stores" on
SQLite and PostgreSQL alike, enforced by the database under concurrent creates.
No column holds a secret: store credentials live only in the store's Kubernetes Secret.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class StoreStatus(StrEnum):
    REQUESTED = "requested"
    PROVISIONING = "provisioning"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"
    # Suspend and resume (provisioning/lifecycle/suspension.py, docs/operations.md).
    SUSPENDING = "suspending"
    SUSPENDED = "suspended"
    RESUMING = "resuming"
    # A plan change (provisioning/lifecycle/plans.py): quota, workloads and volumes re-applied.
    RESIZING = "resizing"
    # A backup being put back (provisioning/backups/restore_steps.py): stopped, imported, started.
    RESTORING = "restoring"
    # New versions being applied (provisioning/upgrades/): backup, apply, verify or roll back.
    UPGRADING = "upgrading"


class ShopperStatus(StrEnum):
    """Result of the last shopper-path check (HTTP through the ingress, as a shopper)."""

    UNCHECKED = ""
    PASSED = "passed"
    FAILED = "failed"
    # kwok nodes run no containers: nothing answers, and we never claim a pass we did not see.
    NOT_VERIFIABLE = "not_verifiable"


class FailureKind(StrEnum):
    TIMEOUT = "timeout"  # only slow: keep watching, it becomes ready if it converges
    SETUP = "setup"  # the setup Job failed
    REJECTED = "rejected"  # the API server refused a manifest
    RESTORE = "restore"  # a restore failed: its data may be partly restored; restore again or delete


IN_FLIGHT = (
    StoreStatus.REQUESTED,
    StoreStatus.PROVISIONING,
    StoreStatus.DELETING,
    StoreStatus.SUSPENDING,
    StoreStatus.RESUMING,
    StoreStatus.RESIZING,
    StoreStatus.RESTORING,
    StoreStatus.UPGRADING,
)
# Stepped by the reconciler on every pass (requested ones are promoted first).
STEPPED = (
    StoreStatus.PROVISIONING,
    StoreStatus.DELETING,
    StoreStatus.SUSPENDING,
    StoreStatus.RESUMING,
    StoreStatus.RESIZING,
    StoreStatus.RESTORING,
    StoreStatus.UPGRADING,
)
# Counted against the owner's store limit: a suspended store still holds its storage.
LIVE = (
    StoreStatus.REQUESTED,
    StoreStatus.PROVISIONING,
    StoreStatus.READY,
    StoreStatus.FAILED,
    StoreStatus.DELETING,
    StoreStatus.SUSPENDING,
    StoreStatus.SUSPENDED,
    StoreStatus.RESUMING,
    StoreStatus.RESIZING,
    StoreStatus.RESTORING,
    StoreStatus.UPGRADING,
)


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def _ts(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kwargs), default=None)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=32)
    display_name: str = Field(default="", max_length=100)
    email: str = Field(default="", max_length=254)
    password_hash: str = Field(max_length=100)
    role: str = Field(default=Role.USER, max_length=16)
    disabled: bool = Field(default=False)
    # Sign-in cookies issued before this moment are refused (set on sign-out).
    sessions_valid_after: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class SignInFailures(SQLModel, table=True):
    """Failed sign-ins per attempted username, whether or not such a user exists, so the
    answers (attempts left, lockout) cannot tell which usernames exist.

    Keyed by a SHA-256 digest of the normalised name (a password typed into the username
    field is not stored as typed). A row older than the lockout window is stale and
    deleted, so guessing names cannot grow the table without limit.
    """

    __tablename__ = "sign_in_failures"

    key: str = Field(primary_key=True, max_length=64)
    failures: int = Field(default=0)
    last_failed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    locked_until: datetime | None = _ts()


class Store(SQLModel, table=True):
    __tablename__ = "stores"
    __table_args__ = (Index("ix_stores_status", "status"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(index=True, max_length=30)
    active_name: str | None = Field(default=None, unique=True, max_length=30)
    engine: str = Field(default="woocommerce", max_length=32)
    owner_id: int = Field(foreign_key="users.id", index=True)
    namespace: str = Field(max_length=63)
    status: str = Field(default=StoreStatus.REQUESTED, max_length=16)
    message: str = Field(default="Waiting for the provisioner to pick it up.", max_length=2000)
    # "working" while progressing normally, "erroring" while a warning is being seen,
    # "degraded" for a ready store whose shopper path fails.
    health: str = Field(default="working", max_length=16)
    failure_kind: str | None = Field(default=None, max_length=16)
    shopper_status: str = Field(default=ShopperStatus.UNCHECKED, max_length=16)
    shopper_message: str = Field(default="", max_length=1000)
    shopper_checked_at: datetime | None = _ts()
    conditions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    url: str = Field(default="", max_length=300)
    admin_user: str = Field(default="", max_length=60)
    attempts: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    provisioning_started_at: datetime | None = _ts()
    # Set once this attempt's manifests were applied; later passes only read status.
    applied_at: datetime | None = _ts()
    ready_at: datetime | None = _ts()
    deleting_started_at: datetime | None = _ts()
    deleted_at: datetime | None = _ts()
    # When the reconciler may look at this store again (backoff after transient errors).
    next_attempt_at: datetime | None = _ts()
    # Suspension (migration 0007): when it was requested, why and whether by an administrator
    # (then only an administrator may resume it); when the current resume was requested; and
    # when the reconciler's scale-down or restore of the current transition was accepted.
    suspended_at: datetime | None = _ts()
    suspended_reason: str = Field(default="", max_length=500)
    suspended_by_admin: bool = Field(default=False)
    resuming_started_at: datetime | None = _ts()
    scale_applied_at: datetime | None = _ts()
    # Plans (migration 0008, provisioning/lifecycle/plans.py): the store's plan ("" = the
    # default plan), the one before the current change, when that change was requested and
    # when the reconciler applied it, and the volume sizes the store has where they differ
    # from its plan's (a volume whose StorageClass cannot expand keeps its size).
    plan: str = Field(default="", max_length=32)
    previous_plan: str = Field(default="", max_length=32)
    plan_changed_at: datetime | None = _ts()
    plan_applied_at: datetime | None = _ts()
    volume_sizes: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    # Restore (migration 0009, provisioning/backups/): the backup being put back, the step
    # it reached (stopping, importing, starting) and when it was requested.
    restore_backup_id: str | None = Field(default=None, max_length=32)
    restore_phase: str = Field(default="", max_length=16)
    restore_started_at: datetime | None = _ts()
    # Versions (migration 0010, provisioning/catalog/versions.py): what the store runs, and
    # the upgrade in progress: its phase, the versions before and after, when it was
    # requested and the backup taken first (restored if it has to roll back).
    versions: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    upgrade_phase: str = Field(default="", max_length=16)
    upgrade_from: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    upgrade_to: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    upgrade_started_at: datetime | None = _ts()
    upgrade_backup_id: str | None = Field(default=None, max_length=32)
    # A clone (migration 0011, provisioning/backups/clone.py): the backup of another store
    # this one was created from. It provisions like any store, then restores that backup.
    cloned_from: str = Field(default="", max_length=32)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=64, index=True)
    store_id: str | None = Field(default=None, max_length=32, index=True)
    store_name: str = Field(default="", max_length=30)
    detail: str = Field(default="", max_length=2000)


class ClusterStatus(SQLModel, table=True):
    """One row the reconciler writes about the cluster, so pages never call Kubernetes."""

    __tablename__ = "cluster_status"

    id: int = Field(default=1, primary_key=True)
    reachable: bool = Field(default=False)
    context: str = Field(default="", max_length=200)
    server: str = Field(default="", max_length=300)
    version: str = Field(default="", max_length=64)
    simulated: bool = Field(default=False)
    error: str = Field(default="", max_length=1000)
    checked_at: datetime | None = _ts()


class WorkerLease(SQLModel, table=True):
    """Leader lease held in the database so that exactly one reconciler works at a time."""

    __tablename__ = "worker_lease"

    name: str = Field(default="reconciler", primary_key=True, max_length=32)
    holder: str = Field(default="", max_length=128)
    expires_at: datetime | None = _ts()


class ApiToken(SQLModel, table=True):
    """A personal API token. Only the SHA-256 digest of the token is stored: tokens are long
    random secrets, so one indexed lookup by digest authenticates a call (no bcrypt)."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=64)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    # The token's first characters ("spt_" and a few more), shown so a user can tell tokens apart.
    hint: str = Field(default="", max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime | None = _ts()
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()


class Webhook(SQLModel, table=True):
    """Where store events are POSTed: a user's (their own stores) or global (owner_id NULL,
    every store; admins only). The signing secret is not stored: it is derived from the
    platform key and `signing_nonce` (provisioning/notifications/signing.py)."""

    __tablename__ = "webhooks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=60)
    url: str = Field(max_length=2000)
    owner_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    slack: bool = Field(default=False)
    # Empty: deliveries are not signed.
    signing_nonce: str = Field(default="", max_length=64)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    # The last delivery attempt, for the Notifications page (the rows keep the details).
    last_result: str = Field(default="", max_length=16)
    last_status_code: int | None = Field(default=None)
    last_error: str = Field(default="", max_length=500)
    last_attempt_at: datetime | None = _ts()
    last_attempts: int = Field(default=0)
    last_event_type: str = Field(default="", max_length=32)


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one row per event and webhook, written in the transaction that changed
    the store, delivered (and retried) by the dispatcher."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: str = Field(foreign_key="webhooks.id", index=True, max_length=32)
    event_id: str = Field(max_length=32)
    event_type: str = Field(max_length=32)
    store_id: str | None = Field(default=None, max_length=32, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # pending (due at next_attempt_at), delivered, failed (gave up)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_status_code: int | None = Field(default=None)
    last_error: str = Field(default="", max_length=500)
    last_attempt_at: datetime | None = _ts()
    delivered_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class BackupStatus(StrEnum):
    PENDING = "pending"  # recorded; the reconciler starts its Job
    RUNNING = "running"  # its Job was created
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Backup(SQLModel, table=True):
    """One backup of a store: a database dump and an archive of its uploaded files in the
    object store under `location` (provisioning/backups/). The bucket's credentials are
    settings of the platform, never columns; `location` is only a key prefix."""

    __tablename__ = "backups"
    __table_args__ = (Index("ix_backups_status", "status"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    store_id: str = Field(foreign_key="stores.id", index=True, max_length=32)
    engine: str = Field(default="", max_length=32)
    # manual (the page, the API, the CLI), scheduled (BACKUP_INTERVAL_HOURS), pre_restore
    kind: str = Field(default="manual", max_length=16)
    status: str = Field(default=BackupStatus.PENDING, max_length=16)
    requested_by: str = Field(default="", max_length=64)
    location: str = Field(default="", max_length=300)
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))
    message: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
