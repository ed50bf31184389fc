"""Suspend and resume: which transitions are valid, and the service commands that record them.

Like create, delete and retry, these only record intent in the database (status
`suspending` or `resuming`, audited with the actor and reason); the reconciler does the
cluster work (provisioning/lifecycle/suspension_steps.py). Valid transitions: suspend a
ready store (degraded included), resume a suspended one. An administrator may suspend any
store with a reason the owner sees; the owner then cannot resume it, only an administrator.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlmodel import Session

from provisioning import audit
from provisioning.db import session_scope
from provisioning.errors import InvalidStateError, PermissionDeniedError, ValidationError
from provisioning.lifecycle.wakeup import intent_recorded
from provisioning.models import Store, StoreStatus, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.actors import Actor

log = logging.getLogger(__name__)

MAX_REASON_LENGTH = 500

# Why a store in this status cannot be suspended, in words a person can act on.
CANNOT_SUSPEND = {
    StoreStatus.REQUESTED: "This store is still provisioning; suspend it once it is ready.",
    StoreStatus.PROVISIONING: "This store is still provisioning; suspend it once it is ready.",
    StoreStatus.FAILED: "This store failed to provision; retry or delete it (there is nothing running to suspend).",
    StoreStatus.SUSPENDING: "This store is already being suspended.",
    StoreStatus.SUSPENDED: "This store is already suspended.",
    StoreStatus.RESUMING: "This store is being resumed; suspend it again once it is ready.",
    StoreStatus.DELETING: "This store is being deleted; there is nothing left to suspend.",
    StoreStatus.DELETED: "This store is deleted; there is nothing left to suspend.",
}
CANNOT_RESUME = {
    StoreStatus.SUSPENDING: "This store is still being suspended; resume it once it is suspended.",
    StoreStatus.RESUMING: "This store is already being resumed.",
    StoreStatus.READY: "This store is not suspended; it is running.",
    StoreStatus.DELETING: "This store is being deleted; it cannot be resumed.",
    StoreStatus.DELETED: "This store is deleted; it cannot be resumed.",
}


def clean_reason(reason: object) -> str:
    """One line, at most MAX_REASON_LENGTH characters; ValidationError (field `reason`) otherwise."""
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise ValidationError("The reason must be text.", field="reason")
    text = " ".join(reason.replace("\x00", "").split())
    if len(text) > MAX_REASON_LENGTH:
        raise ValidationError(f"Keep the reason under {MAX_REASON_LENGTH} characters.", field="reason")
    return text


def suspended_message(store: Store) -> str:
    """What the owner reads on a suspended store (the page and the list)."""
    if store.suspended_by_admin:
        why = f": {store.suspended_reason}" if store.suspended_reason else ""
        return f"Suspended by an administrator{why}. Only an administrator can resume it."
    return "Suspended: offline, with its data kept. Resume it to open it again."


class SuspensionCommands:
    """StoreService's suspend and resume commands (a mixin: it supplies db and the checks)."""

    db: DbEngine

    def _visible_store(self, session: Session, actor: Actor, store_id: str) -> Store: ...

    def suspend_store(self, actor: Actor, store_id: str, *, reason: object = None) -> Store:
        """Record the intent to suspend; the reconciler scales the store to zero.

        An administrator suspending someone else's store must give a reason (the owner
        sees it), and the owner then cannot resume it. An administrator may also lock a
        store its owner already suspended.
        """
        text = clean_reason(reason)
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            by_admin = actor.is_admin and actor.id != store.owner_id
            locking = by_admin and store.status in (StoreStatus.SUSPENDING, StoreStatus.SUSPENDED)
            if locking and store.suspended_by_admin:
                raise InvalidStateError(CANNOT_SUSPEND[StoreStatus(store.status)])
            if store.status != StoreStatus.READY and not locking:
                raise InvalidStateError(
                    CANNOT_SUSPEND.get(StoreStatus(store.status), f"Store {store.name!r} cannot be suspended now.")
                )
            if by_admin and not text:
                raise ValidationError("Give a reason: the store's owner will see it.", field="reason")
            now = utcnow()
            store.suspended_reason = text
            store.suspended_by_admin = by_admin
            if not locking:
                store.status = StoreStatus.SUSPENDING
                store.health = "working"
                store.message = "Suspending: taking the store off the ingress and scaling its workloads to zero."
                store.suspended_at = now
                store.scale_applied_at = None
                store.next_attempt_at = None
            elif store.status == StoreStatus.SUSPENDED:
                store.message = suspended_message(store)
            store.updated_at = now
            session.add(store)
            audit.record(
                session,
                actor=actor.username,
                action="store.suspend_requested",
                store_id=store.id,
                store_name=store.name,
                detail=("by an administrator: " if by_admin else "by the owner") + (text if by_admin else ""),
            )
            intent_recorded(session)
        log.info("store %s (%s) suspension requested by %s", store.name, store.id, actor.username)
        return store

    def resume_store(self, actor: Actor, store_id: str) -> Store:
        """Record the intent to resume; the reconciler restores the store and checks it
        becomes ready exactly as provisioning does."""
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            if store.status != StoreStatus.SUSPENDED:
                fallback = f"Only suspended stores can be resumed; this one is {store.status}."
                raise InvalidStateError(CANNOT_RESUME.get(StoreStatus(store.status), fallback))
            if store.suspended_by_admin and not actor.is_admin:
                raise PermissionDeniedError(
                    "An administrator suspended this store; only an administrator can resume it. "
                    "Contact your administrator."
                )
            now = utcnow()
            store.status = StoreStatus.RESUMING
            store.health = "working"
            store.message = "Resuming: starting the store's workloads again."
            store.resuming_started_at = now
            store.scale_applied_at = None
            store.next_attempt_at = None
            store.suspended_reason = ""
            store.suspended_by_admin = False
            store.shopper_status = ""
            store.shopper_message = ""
            store.shopper_checked_at = None
            store.updated_at = now
            session.add(store)
            audit.record(
                session,
                actor=actor.username,
                action="store.resume_requested",
                store_id=store.id,
                store_name=store.name,
            )
            intent_recorded(session)
        log.info("store %s (%s) resume requested by %s", store.name, store.id, actor.username)
        return store
