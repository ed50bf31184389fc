"""One reconciler step of a store whose plan is changing (status `resizing`).

Once per request: apply the new plan's quota and limits (growing claims and adding pods
need their room), grow each volume claim the new plan makes larger (a merge patch of
`spec.resources.requests.storage`, only where the claim's StorageClass has
`allowVolumeExpansion: true`; otherwise the volume keeps its size and the store's message
says so), then re-apply everything else the engine renders for the new plan
(StatefulSets keep the volumeClaimTemplates they were created with: Kubernetes never lets
those change). Then the SAME readiness as provisioning, object conditions and
the shopper path, before `ready` and `store.plan_changed`.

Nothing is ever deleted and no claim is ever made smaller (the service refuses plans with
smaller volumes; here a claim already at least as large is left alone). Every cluster call
is idempotent, so a worker killed half-way repeats the step and converges; progress is in
the row (`plan_applied_at`, `volume_sizes`).
"""

from __future__ import annotations

import copy
from typing import Any

from provisioning.catalog.plans import EnginePlan, quantity
from provisioning.engines import get_engine
from provisioning.engines.base import Manifest, StoreSpec
from provisioning.lifecycle.decisions import StepResult, conditions_from, spec_for
from provisioning.lifecycle.store_steps import StoreSteps
from provisioning.models import ShopperStatus, StoreStatus

# The claim behind each plan volume, per engine (a StatefulSet's claim is <template>-<set>-0).
VOLUME_CLAIMS = {
    "woocommerce": {"database": "data-mariadb-0", "uploads": "wordpress-data"},
    "medusa": {"database": "data-postgres-0", "uploads": "medusa-static"},
}
# Never re-applied by a plan change: the namespace and the Secret are untouched, and the
# setup Job ran once (its pod template cannot change).
NOT_REAPPLIED = frozenset({"Namespace", "Secret", "Job"})
FIRST = ("ResourceQuota", "LimitRange")  # room for larger volumes and pods before they are asked for


def claim_size(claim: dict[str, Any]) -> str:
    return str(((claim.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage", ""))


def volume_notes(sizes: dict[str, str], target: EnginePlan, plan: str) -> str:
    """Why volumes are smaller than the plan's (only a StorageClass without expansion keeps them so)."""
    notes = [
        f"The {name} volume stays {sizes[name]} (plan {plan!r} has {size}): its StorageClass does not allow "
        "volume expansion."
        for name, size in target.volumes.items()
        if name in sizes and quantity(sizes[name]) < quantity(size)
    ]
    return " ".join(notes)


class PlanSteps(StoreSteps):
    """A mixin of the Reconciler, beside the provisioning, deletion and suspension steps."""

    def _resize_step(self, store_id: str) -> StepResult | None:
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != StoreStatus.RESIZING:
            return None
        store, owner = loaded
        engine = get_engine(store.engine)
        target = self.settings.catalog.for_store(store.plan, store.engine).for_engine(store.engine)
        now = self.clock()
        changes: dict[str, Any] = {}
        sizes = dict(store.volume_sizes or target.volumes)
        if store.plan_applied_at is None:
            # The new quota first: growing claims and adding pods need its room.
            self._reapply(spec_for(store, owner, self.settings), first=True)
            sizes = self._grow_volumes(store.namespace, store.engine, sizes, target)
            store.volume_sizes = sizes
            self._reapply(spec_for(store, owner, self.settings), first=False)
            notes = volume_notes(sizes, target, store.plan)
            changes.update(
                plan_applied_at=now,
                volume_sizes=sizes,
                health="working",
                message=f"Changing plan: quota, limits and workloads re-applied; waiting for the store. {notes}"[:2000],
            )
            return StepResult(changes)  # read readiness on the next pass, once controllers saw the change
        spec = spec_for(store, owner, self.settings)
        checks = engine.checks(spec)
        observed = {check.condition: self.cluster.observe(spec.namespace, check) for check in checks}
        conditions = conditions_from(checks, observed, store.conditions or [], now)
        changes["conditions"] = conditions
        # Rollout-aware (readiness.rollout_pending): old pods of the previous plan do not count.
        waiting = next((obs for obs in observed.values() if not obs.ready), None)
        pending = waiting.message if waiting is not None else None
        notes = volume_notes(sizes, target, store.plan)
        started = store.plan_changed_at or now
        if pending is None:
            shopper = self._check_storefront(spec, store, conditions, changes, now)
            if shopper.status != ShopperStatus.FAILED:
                changes.update(
                    status=StoreStatus.READY,
                    health="working",
                    message=f"Ready on plan {store.plan!r}: open {store.url}. {notes}".strip()[:2000],
                    next_attempt_at=None,
                    failure_kind=None,
                )
                volumes = ", ".join(f"{name} {size}" for name, size in sizes.items())
                detail = f"from {store.previous_plan or '?'} to {store.plan}; volumes: {volumes}"
                detail += f"; ready in {(now - started).total_seconds():.0f}s"
                if notes:
                    detail += "; some volumes kept their size (StorageClass without expansion)"
                return StepResult(changes, "store.plan_changed", detail[:2000])
            pending_message = f"Waiting for the storefront: {shopper.message}"
        else:
            pending_message = pending
        return self._keep_watching(
            changes,
            namespace=spec.namespace,
            started=started,
            now=now,
            pending_message=pending_message,
            after="the plan change",
            trouble_label="changing plan",
            working_message=f"Changing plan: {pending_message} {notes}".strip(),
        )

    def _grow_volumes(self, namespace: str, engine: str, sizes: dict[str, str], target: EnginePlan) -> dict[str, str]:
        """Patch each claim smaller than the plan's size, where its StorageClass allows it."""
        assert self.cluster is not None
        grown = dict(sizes)
        for volume, claim_name in VOLUME_CLAIMS.get(engine, {}).items():
            wanted = target.volumes.get(volume)
            claim = self.cluster.get("v1", "PersistentVolumeClaim", claim_name, namespace=namespace)
            if wanted is None or claim is None:
                continue
            have = claim_size(claim) or grown.get(volume, wanted)
            if quantity(have) >= quantity(wanted):
                grown[volume] = have
                continue
            class_name = (claim.get("spec") or {}).get("storageClassName")
            storage_class = self.cluster.get("storage.k8s.io/v1", "StorageClass", class_name) if class_name else None
            if not (storage_class or {}).get("allowVolumeExpansion"):
                grown[volume] = have  # kept: the store's message says why
                continue
            body = {"spec": {"resources": {"requests": {"storage": wanted}}}}
            self.cluster.patch("v1", "PersistentVolumeClaim", claim_name, body, namespace=namespace)
            grown[volume] = wanted
        return grown

    def _reapply(self, spec: StoreSpec, *, first: bool) -> None:
        """`first`: the quota and limits; else everything else the new plan renders (in parallel)."""
        assert self.cluster is not None
        cluster = self.cluster
        manifests = [
            m
            for m in get_engine(spec.engine).workloads(spec, self.settings)
            if m["kind"] not in NOT_REAPPLIED and (m["kind"] in FIRST) == first
        ]
        self._in_parallel([lambda m=m: cluster.apply(self._keeping_claim_templates(m)) for m in manifests])

    def _keeping_claim_templates(self, manifest: Manifest) -> Manifest:
        """A StatefulSet as rendered, with the claim templates it already has (immutable)."""
        assert self.cluster is not None
        if manifest["kind"] != "StatefulSet":
            return manifest
        meta = manifest["metadata"]
        live = self.cluster.get(manifest["apiVersion"], "StatefulSet", meta["name"], namespace=meta["namespace"])
        sizes = {
            t.get("metadata", {}).get("name"): claim_size(t)
            for t in ((live or {}).get("spec") or {}).get("volumeClaimTemplates") or []
        }
        kept = copy.deepcopy(manifest)
        for template in kept["spec"].get("volumeClaimTemplates") or []:
            size = sizes.get(template["metadata"]["name"])
            if size:
                template["spec"]["resources"]["requests"]["storage"] = size
        return kept

    def _in_parallel(self, calls: Any) -> None: ...  # the Reconciler's
