"""One step of one store: provision (apply once, then read readiness and the shopper path),
watch a store that failed on time alone, re-check a ready store, delete.

A mixin of the Reconciler, which supplies the cluster connection, the clock, the settings,
the apply machinery and the saving of results; kept apart so each file stays readable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from provisioning import causes
from provisioning.backups import clone
from provisioning.engines import get_engine
from provisioning.errors import ClusterRejectedError
from provisioning.health import monitor
from provisioning.kube import Observation
from provisioning.lifecycle.decisions import (
    StepResult,
    conditions_from,
    minutes_or_seconds,
    spec_for,
)
from provisioning.models import Backup, FailureKind, ShopperStatus, Store, StoreStatus

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.engines.base import StoreSpec
    from provisioning.health.shopper import ShopperResult
    from provisioning.lifecycle.decisions import Cluster
    from provisioning.settings import Settings

log = logging.getLogger(__name__)

# A store that failed on its timeout alone is still watched at this pace: if it converges
# (a slow image pull, a node that joined late) it becomes ready without a retry.
RECOVERY_INTERVAL = timedelta(seconds=30)
# Events are kept an hour: only those of the current attempt explain it. A little slack
# covers clock skew between this process and the API server.
EVENT_SKEW = timedelta(seconds=5)


@dataclass(frozen=True)
class Readiness:
    """A store's readiness as one step saw it."""

    ready: bool
    waiting: str  # what it waits for, when not ready
    observed: dict[str, Observation]
    note: str = ""  # for the audit detail (e.g. "shopper path not verifiable ...")


class StoreSteps:
    """What the Reconciler provides to the steps (declared for type checkers)."""

    cluster: Cluster | None
    settings: Settings
    db: DbEngine
    _simulated: bool
    _fake_nodes: frozenset[str]

    def clock(self) -> datetime: ...  # replaced by the Reconciler's clock attribute

    def _load(self, store_id: str) -> tuple[Store, str] | None: ...

    def _apply_all(self, spec: StoreSpec, *, retry: bool, secrets_from: str = "") -> None: ...

    def _clone_source_namespace(self, store: Store) -> str:
        """Where a clone's source store lives (its Secret holds what the copied data needs)."""
        if not store.cloned_from:
            return ""
        with Session(self.db) as session:
            backup = session.get(Backup, store.cloned_from)
            source = session.get(Store, backup.store_id) if backup is not None else None
            return source.namespace if source is not None else ""

    def _store_simulated(self, namespace: str) -> bool:
        """Whether no container of this store can answer a shopper.

        Decided per store on a cluster with kwok nodes: a store whose pods all run on real
        nodes (the harness's real node beside kwok's, or a tainted pool that the store's
        tolerations reach) is checked for real; one with a pod on a kwok node, or with no
        pod bound yet, is not verifiable. A cluster without kwok nodes lists no pods here.
        """
        if not self._simulated:
            return False
        assert self.cluster is not None
        nodes = self.cluster.pod_nodes(namespace)
        return not nodes or bool(nodes & self._fake_nodes)

    def _provision_step(self, store_id: str, status: str = StoreStatus.PROVISIONING) -> StepResult | None:
        """Apply once, then read readiness; also watches stores that failed on time alone."""
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != status:
            return None
        store, owner = loaded
        recovering = status == StoreStatus.FAILED
        engine = get_engine(store.engine)
        spec = spec_for(store, owner, self.settings)
        now = self.clock()
        changes: dict[str, Any] = {}
        if store.applied_at is None and not recovering:
            self._apply_all(spec, retry=store.attempts > 0, secrets_from=self._clone_source_namespace(store))
            changes["applied_at"] = now
        checks = engine.checks(spec)
        observed = {check.condition: self.cluster.observe(spec.namespace, check) for check in checks}
        conditions = conditions_from(checks, observed, store.conditions or [], now)
        changes["conditions"] = conditions
        pending = next((obs for obs in observed.values() if not obs.ready), None)
        if pending is None:
            shopper = self._check_storefront(spec, store, conditions, changes, now)
            if shopper.status != ShopperStatus.FAILED and clone.pending(store):
                changes.update(clone.start_restore(store, now))  # provisioned: now its data
                return StepResult(changes)
            if shopper.status != ShopperStatus.FAILED:
                changes.update(
                    status=StoreStatus.READY,
                    health="working",
                    ready_at=now,
                    message=f"Ready: open {store.url}",
                    next_attempt_at=None,
                    failure_kind=None,
                )
                seconds = (now - (store.provisioning_started_at or now)).total_seconds()
                detail = f"ready in {seconds:.0f}s" + (" (converged after its timeout)" if recovering else "")
                if shopper.status == ShopperStatus.NOT_VERIFIABLE:
                    detail += "; shopper path not verifiable on a simulated cluster"
                return StepResult(changes, "store.ready", detail)
            pending_message = f"Waiting for the storefront: {shopper.message}"
        else:
            pending_message = pending.message
        if recovering:
            return self._still_failed(store, observed, changes, now)
        since = store.applied_at or store.provisioning_started_at or now
        events = causes.since(self.cluster.warning_events(spec.namespace), since - EVENT_SKEW)
        job_failure = next((obs for obs in observed.values() if obs.reason == "JobFailed"), None)
        started = store.provisioning_started_at or now
        timed_out = now - started >= timedelta(seconds=self.settings.provisioning_timeout_seconds)
        if job_failure is not None:
            # The Job's own failure (its condition and its script's last line) is the cause;
            # a warning event from earlier in the install would only mislead.
            changes.update(
                status=StoreStatus.FAILED,
                health="erroring",
                message=f"The store setup failed. {job_failure.message}"[:2000],
                next_attempt_at=None,
                failure_kind=FailureKind.SETUP,
            )
            return StepResult(changes, "store.failed", job_failure.message[:500])
        if timed_out:
            cause = causes.explain(events) or pending_message
            lead = f"Not ready after {minutes_or_seconds(self.settings.provisioning_timeout_seconds)}"
            changes.update(
                status=StoreStatus.FAILED,
                health="erroring",
                message=f"{lead}. {cause} Still watching: it becomes ready by itself if it gets there."[:2000],
                next_attempt_at=now + RECOVERY_INTERVAL,
                failure_kind=FailureKind.TIMEOUT,
            )
            return StepResult(changes, "store.failed", cause[:500])
        trouble = causes.explain(events, include_unknown=False)
        if trouble and causes.is_persistent(events):
            changes.update(health="erroring", message=f"Having trouble: {trouble}")
        else:
            changes.update(health="working", message=f"Working: {pending_message}"[:2000])
        return StepResult(changes)

    def _check_storefront(
        self, spec: StoreSpec, store: Store, conditions: list[dict[str, Any]], changes: dict[str, Any], now: datetime
    ) -> ShopperResult:
        """The shopper-path check once every object is ready; its condition and fields go into `changes`."""
        shopper = monitor.run_check(self.cluster, spec, self.settings, simulated=self._store_simulated(spec.namespace))
        conditions.append(monitor.shopper_condition(shopper, store.conditions or [], now.isoformat()))
        changes.update(shopper_status=shopper.status, shopper_message=shopper.message[:1000], shopper_checked_at=now)
        return shopper

    def _readiness(self, spec: StoreSpec, store: Store, changes: dict[str, Any], now: datetime) -> Readiness:
        """Every object check, then (all ready) the shopper path: what a resume, a restore
        and an upgrade wait for before `ready`, exactly as provisioning does. The conditions
        and the shopper fields go into `changes`."""
        assert self.cluster is not None
        checks = get_engine(spec.engine).checks(spec)
        observed = {check.condition: self.cluster.observe(spec.namespace, check) for check in checks}
        conditions = conditions_from(checks, observed, store.conditions or [], now)
        changes["conditions"] = conditions
        pending = next((obs for obs in observed.values() if not obs.ready), None)
        if pending is not None:
            return Readiness(False, pending.message, observed)
        shopper = self._check_storefront(spec, store, conditions, changes, now)
        if shopper.status == ShopperStatus.FAILED:
            return Readiness(False, f"Waiting for the storefront: {shopper.message}", observed)
        note = (
            "; shopper path not verifiable on a simulated cluster"
            if shopper.status == ShopperStatus.NOT_VERIFIABLE
            else ""
        )
        return Readiness(True, "", observed, note)

    def _keep_watching(
        self,
        changes: dict[str, Any],
        *,
        namespace: str,
        started: datetime,
        now: datetime,
        pending_message: str,
        after: str,
        trouble_label: str,
        working_message: str,
    ) -> StepResult:
        """A resume or plan change not ready yet. Never failed (its data is intact, nothing needs
        re-creating): past the timeout it says so and keeps watching, slower."""
        events = causes.since(self.cluster.warning_events(namespace), started - EVENT_SKEW)
        if now - started >= timedelta(seconds=self.settings.provisioning_timeout_seconds):
            cause = causes.explain(events) or pending_message
            lead = f"Not ready {minutes_or_seconds(self.settings.provisioning_timeout_seconds)} after {after}"
            changes.update(
                health="erroring",
                message=f"{lead}. {cause} Still watching: it becomes ready by itself if it gets there."[:2000],
                next_attempt_at=now + RECOVERY_INTERVAL,
            )
            return StepResult(changes)
        trouble = causes.explain(events, include_unknown=False)
        if trouble and causes.is_persistent(events):
            changes.update(health="erroring", message=f"Having trouble {trouble_label}: {trouble}"[:2000])
        else:
            changes.update(health="working", message=working_message[:2000])
        return StepResult(changes)

    def _still_failed(
        self, store: Store, observed: dict[str, Observation], changes: dict[str, Any], now: datetime
    ) -> StepResult:
        """A store failed on its timeout that has not converged: keep watching, unless its Job failed."""
        job_failure = next((obs for obs in observed.values() if obs.reason == "JobFailed"), None)
        if job_failure is not None:
            changes.update(
                message=f"The store setup failed. {job_failure.message}"[:2000],
                failure_kind=FailureKind.SETUP,
                next_attempt_at=None,
            )
            return StepResult(changes, "store.failed", job_failure.message[:500])
        changes["next_attempt_at"] = now + RECOVERY_INTERVAL
        return StepResult(changes)

    def _shopper_step(self, store_id: str) -> StepResult | None:
        """Re-check a ready store as a shopper; degraded (still ready) while it fails."""
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != StoreStatus.READY:
            return None
        store, owner = loaded
        spec = spec_for(store, owner, self.settings)
        result = monitor.run_check(self.cluster, spec, self.settings, simulated=self._store_simulated(spec.namespace))
        changes, action = monitor.ready_store_changes(store, result, self.clock())
        return StepResult(changes, action, result.message[:500] if action else "")

    def _delete_step(self, store_id: str) -> StepResult | None:
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != StoreStatus.DELETING:
            return None
        store = loaded[0]
        now = self.clock()
        namespace = self.cluster.get("v1", "Namespace", store.namespace)
        if namespace is None:
            return StepResult(
                {
                    "status": StoreStatus.DELETED,
                    "deleted_at": now,
                    "health": "working",
                    "message": "Deleted; nothing is left in the cluster.",
                    "next_attempt_at": None,
                },
                "store.deleted",
            )
        if namespace.get("status", {}).get("phase") != "Terminating":
            self.cluster.delete("v1", "Namespace", store.namespace)
        waited = (now - (store.deleting_started_at or now)).total_seconds()
        message = f"Deleting: waiting for namespace {store.namespace} to finish terminating ({waited:.0f}s)."
        health = "working"
        if waited > self.settings.provisioning_timeout_seconds:
            conditions = namespace.get("status", {}).get("conditions") or []
            stuck = "; ".join(c.get("message", "") for c in conditions if c.get("status") == "True")
            message = f"Deletion is taking long: {stuck or 'the namespace is still terminating'}"
            health = "erroring"
        return StepResult({"message": message, "health": health})

    def _rejected(self, store_id: str, status: str, error: ClusterRejectedError) -> StepResult:
        """The API refused a request: retrying the same thing will not help, tell the owner."""
        log.warning("store %s: %s", store_id, error)
        if status == StoreStatus.DELETING:
            return StepResult(
                {
                    "health": "erroring",
                    "message": f"Deletion refused by Kubernetes: {error}",
                    "next_attempt_at": self.clock() + timedelta(seconds=30),
                }
            )
        if status in (StoreStatus.SUSPENDING, StoreStatus.RESUMING, StoreStatus.RESIZING):  # data intact: retry
            verb = {"suspending": "Suspending", "resuming": "Resuming"}.get(status, "Changing the plan")
            return StepResult(
                {
                    "health": "erroring",
                    "message": f"{verb} refused by Kubernetes: {error}"[:2000],
                    "next_attempt_at": self.clock() + timedelta(seconds=30),
                }
            )
        if status == StoreStatus.READY:  # a re-check cannot be refused in a way that fails the store
            return StepResult({"shopper_checked_at": self.clock()})
        return StepResult(
            {
                "status": StoreStatus.FAILED,
                "health": "erroring",
                "message": str(error),
                "failure_kind": FailureKind.REJECTED,
                "next_attempt_at": None,
            },
            "store.failed",
            str(error),
        )
