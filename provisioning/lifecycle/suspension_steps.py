"""One reconciler step of a store being suspended or resumed.

Suspending: scale down once per request (take the store off the ingress, workloads to
zero, cron suspended: provisioning/operations/suspension.py), then wait until no pod of
the store's workloads is left, then `suspended`. Resuming: restore once per request (the
engine's replica counts and Ingress), then the SAME readiness as provisioning, object
conditions and then the shopper path, before `ready`.

Each step's cluster changes are idempotent and its progress is in the row
(`scale_applied_at`), so a worker killed between the cluster change and the status write
simply repeats the change on the next pass and converges. A suspended store is not
re-checked as a shopper (only ready ones are), so it is never flagged degraded.
"""

from __future__ import annotations

from typing import Any

from provisioning.engines import get_engine
from provisioning.lifecycle.decisions import StepResult, spec_for
from provisioning.lifecycle.store_steps import StoreSteps
from provisioning.lifecycle.suspension import suspended_message
from provisioning.models import StoreStatus
from provisioning.operations import suspension


class SuspensionSteps(StoreSteps):
    """A mixin of the Reconciler, beside the provisioning and deletion steps."""

    def _suspend_step(self, store_id: str) -> StepResult | None:
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != StoreStatus.SUSPENDING:
            return None
        store, owner = loaded
        spec = spec_for(store, owner, self.settings)
        manifests = get_engine(store.engine).workloads(spec, self.settings)
        now = self.clock()
        changes: dict[str, Any] = {}
        if store.scale_applied_at is None:
            suspension.scale_down(self.cluster, manifests)
            changes["scale_applied_at"] = now
        done, waiting = suspension.stopped(self.cluster, manifests)
        if done:
            changes.update(
                status=StoreStatus.SUSPENDED, health="working", message=suspended_message(store), next_attempt_at=None
            )
            detail = "workloads at zero replicas, Ingress removed; volumes and Secret kept"
            if store.suspended_by_admin:
                detail += f"; by an administrator: {store.suspended_reason}"
            return StepResult(changes, "store.suspended", detail)
        waited = (now - (store.suspended_at or now)).total_seconds()
        if waited > self.settings.provisioning_timeout_seconds:
            changes.update(health="erroring", message=f"Suspending is taking long: {waiting}"[:2000])
        else:
            changes.update(health="working", message=f"Suspending: {waiting}"[:2000])
        return StepResult(changes)

    def _resume_step(self, store_id: str) -> StepResult | None:
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != StoreStatus.RESUMING:
            return None
        store, owner = loaded
        engine = get_engine(store.engine)
        spec = spec_for(store, owner, self.settings)
        now = self.clock()
        changes: dict[str, Any] = {}
        if store.scale_applied_at is None:
            suspension.restore(self.cluster, engine.workloads(spec, self.settings))
            changes["scale_applied_at"] = now
        started = store.resuming_started_at or now
        readiness = self._readiness(spec, store, changes, now)
        if readiness.ready:
            changes.update(
                status=StoreStatus.READY,
                health="working",
                message=f"Ready: open {store.url}",
                next_attempt_at=None,
                failure_kind=None,
                suspended_at=None,
            )
            detail = f"ready again in {(now - started).total_seconds():.0f}s{readiness.note}"
            return StepResult(changes, "store.resumed", detail)
        pending_message = readiness.waiting
        return self._keep_watching(
            changes,
            namespace=spec.namespace,
            started=started,
            now=now,
            pending_message=pending_message,
            after="resuming",
            trouble_label="resuming",
            working_message=f"Resuming: {pending_message}",
        )
