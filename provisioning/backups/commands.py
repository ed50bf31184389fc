"""Backup and restore commands of the store service: they record intent, like every command.

A backup is a row (`pending`); the reconciler starts its Job and follows it
(provisioning/backups/steps.py). A restore moves the store to `restoring`; the reconciler
stops the storefront, imports the backup, starts the store again and checks it like a
resume. One backup or restore at a time per store.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from provisioning import audit
from provisioning.db import session_scope
from provisioning.errors import InvalidStateError, NotConfiguredError, NotFoundError, PermissionDeniedError
from provisioning.lifecycle.wakeup import intent_recorded
from provisioning.models import Backup, BackupStatus, FailureKind, Store, StoreStatus, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.actors import Actor
    from provisioning.settings import Settings

log = logging.getLogger(__name__)

NOT_CONFIGURED = (
    "No backup storage is configured on this platform. An administrator sets BACKUP_S3_ENDPOINT, "
    "BACKUP_S3_BUCKET and the bucket's credentials (docs/operations.md)."
)
UNFINISHED = (BackupStatus.PENDING, BackupStatus.RUNNING)
BACKUP_NEEDS_READY = "Only a running store can be backed up (its database must be up); this one is {status}."


def restorable(store: Store) -> bool:
    """A store a backup may be put back into: running, suspended, or after a failed restore."""
    return store.status in (StoreStatus.READY, StoreStatus.SUSPENDED) or (
        store.status == StoreStatus.FAILED and store.failure_kind == FailureKind.RESTORE
    )


class BackupCommands:
    """StoreService's backup commands (a mixin: it supplies db, settings and the checks)."""

    db: DbEngine
    settings: Settings

    def _visible_store(self, session: Session, actor: Actor, store_id: str) -> Store: ...

    def create_store(
        self, actor: Actor, name: object, *, engine: str = ..., plan: object = None, clone_of: Backup | None = None
    ) -> Store: ...

    def _require_backups(self) -> None:
        if not self.settings.backups_configured:
            raise NotConfiguredError(NOT_CONFIGURED)

    def backup_store(self, actor: Actor, store_id: str) -> Backup:
        """Record a backup to take now; the reconciler runs it."""
        self._require_backups()
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            _no_operation_running(session, store)
            if store.status != StoreStatus.READY:
                raise InvalidStateError(BACKUP_NEEDS_READY.format(status=store.status))
            backup = Backup(store_id=store.id, engine=store.engine, kind="manual", requested_by=actor.username)
            backup.message = "Waiting for the worker to start the backup."
            session.add(backup)
            audit.record(
                session, actor=actor.username, action="backup.requested", store_id=store.id, store_name=store.name
            )
            intent_recorded(session)
            session.flush()
            session.refresh(backup)
            session.expunge(backup)
        log.info("backup of store %s requested by %s", store_id, actor.username)
        return backup

    def list_backups(self, actor: Actor, store_id: str) -> list[Backup]:
        """The store's backups, newest first (kept ones, the running one and failures)."""
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            rows = session.exec(
                select(Backup).where(Backup.store_id == store.id).order_by(col(Backup.created_at).desc())
            ).all()
            for row in rows:
                session.expunge(row)
            return list(rows)

    def restore_backup(self, actor: Actor, store_id: str, backup_id: str) -> Store:
        """Put a successful backup back into its store (the storefront is offline meanwhile)."""
        self._require_backups()
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            backup = session.get(Backup, backup_id) if isinstance(backup_id, str) else None
            if backup is None or backup.store_id != store.id:
                raise NotFoundError("No such backup of this store.")
            if backup.status != BackupStatus.SUCCEEDED:
                raise InvalidStateError(f"Only a successful backup can be restored; this one is {backup.status}.")
            if not restorable(store):
                raise InvalidStateError(
                    f"A backup can be restored into a running or suspended store; this one is {store.status}."
                )
            if store.suspended_by_admin and not actor.is_admin:
                raise PermissionDeniedError(
                    "An administrator suspended this store; only an administrator can restore it."
                )
            _no_operation_running(session, store)
            now = utcnow()
            store.status = StoreStatus.RESTORING
            store.health = "working"
            store.message = f"Restoring the backup of {backup.created_at:%Y-%m-%d %H:%M} UTC: stopping the storefront."
            store.restore_backup_id = backup.id
            store.restore_phase = "stopping"
            store.restore_started_at = now
            store.scale_applied_at = None
            store.next_attempt_at = None
            store.failure_kind = None
            store.suspended_reason = ""
            store.suspended_by_admin = False
            store.updated_at = now
            session.add(store)
            audit.record(
                session,
                actor=actor.username,
                action="store.restore_requested",
                store_id=store.id,
                store_name=store.name,
                detail=f"backup {backup.id} of {backup.created_at:%Y-%m-%d %H:%M} UTC",
            )
            intent_recorded(session)
        log.info("restore of store %s from backup %s requested by %s", store_id, backup_id, actor.username)
        return store

    def clone_store(self, actor: Actor, store_id: str, backup_id: str, name: object, *, plan: object = None) -> Store:
        """A new store of the actor's with the data of a backup of a store they can see.

        Same engine as the source; its plan by default. It counts like any new store (limits,
        name), provisions, then restores the backup and sets the copy up as itself
        (provisioning/backups/clone.py)."""
        self._require_backups()
        with session_scope(self.db) as session:
            source = self._visible_store(session, actor, store_id)
            backup = session.get(Backup, backup_id) if isinstance(backup_id, str) else None
            if backup is None or backup.store_id != source.id:
                raise NotFoundError("No such backup of this store.")
            if backup.status != BackupStatus.SUCCEEDED:
                raise InvalidStateError(f"Only a successful backup can be copied; this one is {backup.status}.")
            if source.status in (StoreStatus.DELETING, StoreStatus.DELETED):
                raise InvalidStateError("This store is being deleted, and its backups with it.")
            session.expunge(backup)
            engine, chosen = source.engine, plan if plan not in (None, "") else source.plan
        store = self.create_store(actor, name, engine=engine, plan=chosen, clone_of=backup)
        log.info("store %s cloned from backup %s of %s by %s", store.id, backup_id, store_id, actor.username)
        return store


def _no_operation_running(session: Session, store: Store) -> None:
    running = session.exec(
        select(Backup.id).where(Backup.store_id == store.id, col(Backup.status).in_(UNFINISHED))
    ).first()
    if running is not None:
        raise InvalidStateError("A backup of this store is already running; try again when it has finished.")
    if store.status == StoreStatus.RESTORING:
        raise InvalidStateError("A backup is being restored into this store; try again when it has finished.")
