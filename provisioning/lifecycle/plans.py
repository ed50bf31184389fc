"""Plans: which plan a store may be ordered on, and the service command that changes it.

Like suspend and resume, changing a plan only records intent (status `resizing`, audited
`store.plan_change_requested` with both plans); the reconciler re-applies the quota,
limits and workloads and grows the volumes (provisioning/lifecycle/plan_steps.py).

Rules: the owner or an administrator; only a `ready` store (a suspended one is resumed
first: its workloads are at zero and nothing could be checked); users may only pick the
ORDERABLE_PLANS, administrators any plan. Volumes never shrink: a plan whose volume is
smaller than the store's is refused, before anything changes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlmodel import Session

from provisioning import audit
from provisioning.catalog.plans import Plan, shrinking_volume
from provisioning.db import session_scope
from provisioning.engines import ENGINES
from provisioning.errors import InvalidStateError, PermissionDeniedError, ValidationError
from provisioning.lifecycle.wakeup import intent_recorded
from provisioning.models import Store, StoreStatus, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.actors import Actor
    from provisioning.settings import Settings

log = logging.getLogger(__name__)

CANNOT_CHANGE_PLAN = {
    StoreStatus.REQUESTED: "This store is still provisioning; change its plan once it is ready.",
    StoreStatus.PROVISIONING: "This store is still provisioning; change its plan once it is ready.",
    StoreStatus.FAILED: "This store failed to provision; retry or delete it before changing its plan.",
    StoreStatus.SUSPENDING: "This store is being suspended; resume it, then change its plan.",
    StoreStatus.SUSPENDED: "This store is suspended; resume it, then change its plan.",
    StoreStatus.RESUMING: "This store is being resumed; change its plan once it is ready.",
    StoreStatus.RESIZING: "This store's plan is already being changed; wait until it is ready.",
    StoreStatus.DELETING: "This store is being deleted; its plan cannot change.",
    StoreStatus.DELETED: "This store is deleted; its plan cannot change.",
}


class PlanCommands:
    """StoreService's plan queries and the change-plan command (a mixin, like SuspensionCommands)."""

    db: DbEngine
    settings: Settings

    def _visible_store(self, session: Session, actor: Actor, store_id: str) -> Store: ...

    @staticmethod
    def engines() -> dict[str, str]:
        return {name: engine.title for name, engine in ENGINES.items()}

    def orderable_plans(self, actor: Actor) -> list[Plan]:
        """The plans this user may order or change to (administrators: every plan)."""
        return self.settings.catalog.orderable_by(admin=actor.is_admin)

    def store_plan(self, store: Store) -> Plan:
        """The store's plan, with the volume sizes it has."""
        return self.settings.catalog.for_store(store.plan, store.engine, store.volume_sizes)

    def _chosen_plan(self, actor: Actor, plan: object) -> Plan:
        """The plan named `plan` (None: the default), if this user may pick it."""
        catalog = self.settings.catalog
        if plan is None or plan == "":
            plan = catalog.default
        if not isinstance(plan, str) or plan not in catalog.plans:
            raise ValidationError(f"Unknown plan {plan!r}; the plans are: {', '.join(catalog.plans)}.", field="plan")
        if not actor.is_admin and plan not in catalog.orderable:
            raise PermissionDeniedError(
                f"Plan {plan!r} is not offered to users; choose one of: {', '.join(catalog.orderable)}."
            )
        return catalog.plans[plan]

    def change_plan(self, actor: Actor, store_id: str, plan: object) -> Store:
        """Record the intent to move a ready store to `plan`; the reconciler applies it."""
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            new = self._chosen_plan(actor, plan)
            if store.status != StoreStatus.READY:
                fallback = f"Only ready stores can change plan; this one is {store.status}."
                raise InvalidStateError(CANNOT_CHANGE_PLAN.get(StoreStatus(store.status), fallback))
            current = self.store_plan(store)
            if new.name == current.name:
                raise InvalidStateError(f"Store {store.name!r} is already on plan {new.name!r}.")
            refused = shrinking_volume(current.for_engine(store.engine), new.for_engine(store.engine), new.name)
            if refused:
                raise InvalidStateError(refused)
            now = utcnow()
            # The sizes the store has now: the reconciler grows them to the new plan's.
            store.volume_sizes = dict(current.for_engine(store.engine).volumes)
            store.previous_plan = current.name
            store.plan = new.name
            store.status = StoreStatus.RESIZING
            store.health = "working"
            store.message = (
                f"Changing plan from {current.name!r} to {new.name!r}: re-applying quota, limits and "
                "workloads (pods restart); volumes grow where their StorageClass allows."
            )
            store.plan_changed_at = now
            store.plan_applied_at = None
            store.next_attempt_at = None
            store.updated_at = now
            session.add(store)
            audit.record(
                session,
                actor=actor.username,
                action="store.plan_change_requested",
                store_id=store.id,
                store_name=store.name,
                detail=f"from {current.name} to {new.name}",
            )
            intent_recorded(session)  # the reconciler starts on commit, not at its next pass
        log.info("store %s (%s) plan change to %s requested by %s", store.name, store.id, new.name, actor.username)
        return store
