"""Upgrade commands of the store service: which stores run older versions, upgrade one or all.

Administrators only: an upgrade changes what every shopper of the store runs. It records
intent (status `upgrading`, phase `queued`, the versions before and after); the reconciler
takes a backup, applies the new versions with the store's own upgrade step, verifies the
store as a shopper would, and restores the backup with the old versions if that fails
(provisioning/upgrades/steps.py). At most MAX_CONCURRENT_UPGRADES run at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from provisioning import audit
from provisioning.backups.commands import NOT_CONFIGURED, _no_operation_running
from provisioning.catalog import versions
from provisioning.db import session_scope
from provisioning.errors import InvalidStateError, NotConfiguredError
from provisioning.lifecycle.wakeup import intent_recorded
from provisioning.models import LIVE, Store, StoreStatus, User, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.actors import Actor
    from provisioning.settings import Settings

log = logging.getLogger(__name__)

QUEUED = "queued"


@dataclass(frozen=True)
class OutdatedStore:
    """A live store whose recorded versions differ from today's pins."""

    id: str
    name: str
    owner: str
    engine: str
    status: str
    changes: dict[str, tuple[str, str]]

    @property
    def summary(self) -> str:
        return ", ".join(f"{key} {old or '?'} → {new}" for key, (old, new) in sorted(self.changes.items()))


class UpgradeCommands:
    """StoreService's upgrade commands (a mixin: it supplies db, settings and the checks)."""

    db: DbEngine
    settings: Settings

    def _visible_store(self, session: Session, actor: Actor, store_id: str) -> Store: ...

    @staticmethod
    def _require_admin(actor: Actor) -> None: ...

    def outdated_stores(self, actor: Actor) -> list[OutdatedStore]:
        """Every live store not on today's pins, oldest first (what an admin may upgrade)."""
        self._require_admin(actor)
        with Session(self.db) as session:
            rows = session.exec(
                select(Store, User.username)
                .join(User, col(User.id) == Store.owner_id)
                .where(col(Store.status).in_(LIVE))
                .order_by(col(Store.created_at))
            ).all()
        found = []
        for store, owner in rows:
            diff = versions.changes(store.versions, versions.pinned(self.settings, store.engine))
            if diff:
                found.append(OutdatedStore(store.id, store.name, owner, store.engine, store.status, diff))
        return found

    def upgrade_store(self, actor: Actor, store_id: str) -> Store:
        """Queue one store's upgrade to today's pins (backed up first, rolled back on failure)."""
        self._require_admin(actor)
        if not self.settings.backups_configured:
            raise NotConfiguredError(
                f"An upgrade takes a backup first, and it can roll back only to one. {NOT_CONFIGURED}"
            )
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            self._queue_upgrade(session, actor, store)
        log.info("upgrade of store %s requested by %s", store_id, actor.username)
        return store

    def upgrade_all(self, actor: Actor) -> list[str]:
        """Queue every ready store that runs older versions; returns their names. Stores that
        are not ready now (provisioning, suspended...) are left for later."""
        self._require_admin(actor)
        if not self.settings.backups_configured:
            raise NotConfiguredError(f"An upgrade takes a backup first. {NOT_CONFIGURED}")
        queued = []
        with session_scope(self.db) as session:
            for outdated in self.outdated_stores(actor):
                store = session.get(Store, outdated.id)
                if store is None or store.status != StoreStatus.READY:
                    continue
                try:
                    self._queue_upgrade(session, actor, store)
                except InvalidStateError:
                    continue  # e.g. a backup is running: the next "upgrade all" takes it
                queued.append(store.name)
        log.info("upgrade of %d stores requested by %s", len(queued), actor.username)
        return queued

    def _queue_upgrade(self, session: Session, actor: Actor, store: Store) -> None:
        target = versions.pinned(self.settings, store.engine)
        diff = versions.changes(store.versions, target)
        if store.status == StoreStatus.UPGRADING:
            raise InvalidStateError("This store is already being upgraded.")
        if store.status != StoreStatus.READY:
            raise InvalidStateError(f"Only a running store can be upgraded; this one is {store.status}.")
        if not diff:
            raise InvalidStateError("This store already runs the current versions.")
        _no_operation_running(session, store)
        now = utcnow()
        store.status = StoreStatus.UPGRADING
        store.health = "working"
        store.upgrade_phase = QUEUED
        store.upgrade_from = dict(store.versions or {})
        store.upgrade_to = target
        store.upgrade_started_at = now
        store.upgrade_backup_id = None
        store.scale_applied_at = None
        store.next_attempt_at = None
        store.message = f"Upgrade queued: {versions.describe({k: new for k, (_, new) in diff.items()})}."[:2000]
        store.updated_at = now
        session.add(store)
        audit.record(
            session,
            actor=actor.username,
            action="store.upgrade_requested",
            store_id=store.id,
            store_name=store.name,
            detail=f"from {versions.describe(store.upgrade_from)} to {versions.describe(target)}",
        )
        intent_recorded(session)
