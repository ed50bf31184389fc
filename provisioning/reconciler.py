"""The control loop: make each store in the cluster match what the database asks for.

Every pass reads the stores whose desired state differs from what was observed, acts
(idempotent server-side apply, namespace deletion), reads readiness back and writes
conditions and a message. Nothing lives only in memory: a restarted reconciler picks up
whatever was in flight from the database and the cluster. Writes are conditional on the
status read at the start of the step, so a user's delete during a step is never undone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import Engine as DbEngine
from sqlmodel import Session, col, select

from provisioning import audit, lease
from provisioning.actors import SYSTEM
from provisioning.backups import clone
from provisioning.backups.restore_steps import RestoreSteps
from provisioning.db import session_scope
from provisioning.engines import get_engine
from provisioning.engines.base import StoreSpec
from provisioning.errors import ClusterRejectedError, ClusterUnavailableError
from provisioning.kube import ClusterInfo, KubeCluster
from provisioning.lifecycle.decisions import Cluster, StepResult, conditions_from, spec_for
from provisioning.lifecycle.drift import DriftCheck
from provisioning.lifecycle.plan_steps import PlanSteps
from provisioning.lifecycle.suspension_steps import SuspensionSteps
from provisioning.lifecycle.wakeup import for_database as wakeup_for
from provisioning.models import STEPPED, ClusterStatus, FailureKind, ShopperStatus, Store, StoreStatus, User, utcnow
from provisioning.notifications import outbox
from provisioning.observability import metrics
from provisioning.settings import Settings
from provisioning.upgrades.steps import UpgradeSteps
from provisioning.watch.cached_cluster import CachedCluster

# Re-exported: callers and tests know these by the reconciler's name.
__all__ = ["Cluster", "Reconciler", "StepResult", "conditions_from", "spec_for"]

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
PROBE_INTERVAL = timedelta(seconds=15)
# Requests in flight at once for applies, across all stores: a store's objects go out in
# dependency waves, each wave in parallel (see _apply_all). Bounded so that 100 stores
# provisioned at once do not become hundreds of concurrent writes to the API server.
APPLY_PARALLELISM = 16
# Kinds whose controllers create pods: applied only after everything a pod depends on.
POD_CREATING_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job", "CronJob"})


# Each step family in its own mixin: drift, plans, suspension, upgrades, restore and
# backups, and (StoreSteps) provisioning, shopper checks and deletion.
class Reconciler(DriftCheck, PlanSteps, SuspensionSteps, UpgradeSteps, RestoreSteps):
    def __init__(
        self,
        db: DbEngine,
        settings: Settings,
        connect: Callable[[], Cluster],
        *,
        identity: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self._connect = connect
        self.identity = identity
        self.clock = clock
        self.cluster: Cluster | None = None
        self._last_probe: datetime | None = None
        self._last_drift: datetime | None = None
        self._failures = 0
        # kwok nodes run no containers: the shopper path cannot be verified there.
        self._simulated = False
        self._fake_nodes: frozenset[str] = frozenset()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.max_concurrent_provisioning), thread_name_prefix="reconcile"
        )
        self._apply_pool = ThreadPoolExecutor(max_workers=APPLY_PARALLELISM, thread_name_prefix="apply")
        self._watching: threading.Event | None = None  # set by watch_cluster: read through a CachedCluster

    def watch_cluster(self, stop: threading.Event) -> None:
        """Read readiness from watches (provisioning/watch/) from the next connection on,
        until `stop` is set. run_forever does this (WATCH_CLUSTER); passes run one at a time
        (tests' run_once) read the API directly unless they ask for it."""
        self._watching = stop
        threading.Thread(target=self._stop_watching_on, args=(stop,), name="watch-stop", daemon=True).start()

    def _stop_watching_on(self, stop: threading.Event) -> None:
        stop.wait()
        if isinstance(self.cluster, CachedCluster):
            self.cluster.stop()

    # -- loop -----------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        log.info("reconciler %s started", self.identity)
        errors = 0  # passes in a row that raised (e.g. the database is down)
        wakeup = wakeup_for(self.db)  # set when an intent is recorded (lifecycle/wakeup.py)
        wakeup.listen(self.db, stop)  # PostgreSQL: intents recorded by other processes
        if self.settings.watch_cluster:
            self.watch_cluster(stop)
        while not stop.is_set():
            delay = self.settings.reconcile_interval_seconds
            wakeup.clear()  # this pass handles every intent recorded so far: a burst is one pass
            try:
                with metrics.reconciler_pass():  # duration, errors, last pass (docs/metrics.md)
                    self.run_once()
                errors = 0
            except Exception as error:  # never let one bad pass end the loop
                errors += 1
                # Back off like for an unreachable cluster, and keep the log readable:
                # the traceback once, then a line every 10th failure in a row.
                if errors == 1:
                    log.exception("reconciler pass failed")
                elif errors % 10 == 0:
                    log.warning("reconciler pass failed %d times in a row: %s", errors, _one_line(error))
            failures = self._failures + errors
            if failures:
                delay = min(MAX_BACKOFF_SECONDS, delay * 2 ** min(failures, 6))
                stop.wait(delay)  # backing off: a wake-up does not cut it short
            else:
                wakeup.wait(delay, stop)  # a new intent starts the next pass at once
        metrics.set_leader(False)
        try:
            lease.release(self.db, self.identity)
        except Exception as error:  # the lease then expires by itself
            log.warning("could not release the lease: %s", _one_line(error))
        self._pool.shutdown(wait=True)
        self._apply_pool.shutdown(wait=True)
        log.info("reconciler %s stopped", self.identity)

    def run_once(self) -> bool:
        """One pass. Returns False when it did not run (not leader, or cluster unreachable)."""
        ttl = max(15.0, self.settings.reconcile_interval_seconds * 5)
        leader = lease.try_acquire(self.db, self.identity, ttl_seconds=ttl)
        metrics.set_leader(leader)
        if not leader:
            return False
        with lease.kept(self.db, self.identity, ttl_seconds=ttl):  # renewed while the pass runs
            return self._leading_pass()

    def _leading_pass(self) -> bool:
        try:  # every write below checks the lease (fence): a deposed pass stops here
            if not self._ensure_cluster():
                return False
            try:
                self._drift_check()
                self._promote_requested()
                self._schedule_backups()
                stores = self._due_stores() + self._shopper_checks_due()
                futures = [self._pool.submit(self._step_safely, store_id, status) for store_id, status in stores]
                futures += [self._pool.submit(self._backup_step_safely, b) for b in self._unfinished_backups()]
                for future in futures:
                    future.result()
                self._failures = 0
                return True
            except ClusterUnavailableError as error:
                self._cluster_lost(str(error))
                return False
        except lease.LeaseLostError as error:
            log.warning("%s", error)
            return False

    # -- cluster connection ---------------------------------------------------------------

    def _ensure_cluster(self) -> bool:
        now = self.clock()
        if self.cluster is not None and self._last_probe and now - self._last_probe < PROBE_INTERVAL:
            return True
        try:
            if self.cluster is None:
                self.cluster = self._connected()
            info = self.cluster.probe()
        except ClusterUnavailableError as error:
            info = ClusterInfo(False, self.settings.kube_context or "current context", error=str(error))
        self._last_probe = now
        if info.reachable:
            self._simulated, self._fake_nodes = info.simulated, info.fake_nodes
        self._write_cluster_status(info)
        if not info.reachable:
            self._cluster_lost(info.error, write=False)
            return False
        return True

    def _connected(self) -> Cluster:
        cluster = self._connect()
        if self._watching is None or self._watching.is_set() or not isinstance(cluster, KubeCluster):
            return cluster
        wakeup = wakeup_for(self.db)
        return CachedCluster(cluster, on_change=wakeup.notify).start()

    def _cluster_lost(self, error: str, *, write: bool = True) -> None:
        self._failures += 1
        self._last_probe = None
        if isinstance(self.cluster, CachedCluster):  # a watch may have died silently: list again
            self.cluster.resync()
        if self._failures == 1 or self._failures % 10 == 0:
            log.warning("cluster unreachable (%d consecutive failures): %s", self._failures, error)
        if write:
            context = getattr(self.cluster, "context", "") or self.settings.kube_context
            self._write_cluster_status(ClusterInfo(False, context, error=error))

    def _write_cluster_status(self, info: ClusterInfo) -> None:
        """The portal's banner; fenced like every write, or a deposed worker whose paused
        request timed out would mark a healthy cluster unreachable."""
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            row = session.get(ClusterStatus, 1) or ClusterStatus(id=1)
            row.reachable = info.reachable
            row.context = info.context[:200]
            row.server = info.server[:300] or row.server
            row.version = info.version[:64] or row.version
            row.simulated = info.simulated if info.reachable else row.simulated
            row.error = info.error[:1000]
            row.checked_at = self.clock()
            session.add(row)

    # -- choosing work --------------------------------------------------------------------

    def _promote_requested(self) -> None:
        """Move requested stores to provisioning while slots are free, oldest first."""
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            busy = session.exec(
                select(func.count()).select_from(Store).where(Store.status == StoreStatus.PROVISIONING)
            ).one()
            waiting = session.exec(
                select(Store).where(Store.status == StoreStatus.REQUESTED).order_by(col(Store.created_at))
            ).all()
            slots = max(0, self.settings.max_concurrent_provisioning - busy)
            now = self.clock()
            for position, store in enumerate(waiting):
                if position < slots:
                    store.status = StoreStatus.PROVISIONING
                    store.provisioning_started_at = now
                    store.applied_at = None
                    store.message = "Provisioning started."
                    store.health = "working"
                    audit.record(
                        session,
                        actor=SYSTEM.username,
                        action="store.provisioning",
                        store_id=store.id,
                        store_name=store.name,
                    )
                else:
                    ahead = position - slots
                    line = "next in line" if ahead == 0 else f"{ahead} ahead of this one"
                    message = (
                        f"Queued: {self.settings.max_concurrent_provisioning} stores are being provisioned; {line}."
                    )
                    if store.message == message:
                        continue  # unchanged: no write (900 queued stores were 900 UPDATEs a pass)
                    store.message = message
                store.updated_at = now
                session.add(store)

    def _due_stores(self) -> list[tuple[str, str]]:
        now = self.clock()
        with Session(self.db) as session:
            rows = session.exec(
                select(Store.id, Store.status, Store.next_attempt_at).where(
                    col(Store.status).in_(STEPPED)
                    | ((col(Store.status) == StoreStatus.FAILED) & (col(Store.failure_kind) == FailureKind.TIMEOUT))
                )
            ).all()
        return [(sid, status) for sid, status, due in rows if due is None or due <= now]

    def _shopper_checks_due(self) -> list[tuple[str, str]]:
        """Ready stores whose last shopper-path check is older than the interval."""
        cutoff = self.clock() - timedelta(seconds=self.settings.shopper_check_interval_seconds)
        with Session(self.db) as session:
            query = select(Store.id).where(
                col(Store.status) == StoreStatus.READY,
                col(Store.shopper_checked_at).is_(None) | (col(Store.shopper_checked_at) <= cutoff),
            )
            if self._simulated:  # nothing new to learn until real nodes run the stores
                query = query.where(col(Store.shopper_status) != ShopperStatus.NOT_VERIFIABLE)
            rows = session.exec(query).all()
        return [(store_id, StoreStatus.READY) for store_id in rows]

    # -- one store ------------------------------------------------------------------------

    def _step_safely(self, store_id: str, status: str) -> None:
        try:
            if status == StoreStatus.DELETING:
                result = self._delete_step(store_id)
            elif status == StoreStatus.SUSPENDING:
                result = self._suspend_step(store_id)
            elif status == StoreStatus.RESUMING:
                result = self._resume_step(store_id)
            elif status == StoreStatus.RESIZING:
                result = self._resize_step(store_id)
            elif status == StoreStatus.RESTORING:
                result = self._restore_step(store_id)
            elif status == StoreStatus.UPGRADING:
                result = self._upgrade_step(store_id)
            elif status == StoreStatus.READY:
                result = self._shopper_step(store_id)
            else:
                result = self._provision_step(store_id, status)
        except (ClusterUnavailableError, lease.LeaseLostError):
            raise
        except ClusterRejectedError as error:
            result = self._rejected(store_id, status, error)
        except Exception as error:  # a bug must not wedge the store silently
            log.exception("reconciling store %s failed", store_id)
            result = StepResult(
                {
                    "health": "erroring",
                    "message": f"Internal error while reconciling ({type(error).__name__}); retrying.",
                    "next_attempt_at": self.clock() + timedelta(seconds=30),
                }
            )
        if result is not None:
            self._save(store_id, status, result)

    def _load(self, store_id: str) -> tuple[Store, str] | None:
        with Session(self.db) as session:
            row = session.exec(
                select(Store, User.username).join(User, col(User.id) == Store.owner_id).where(Store.id == store_id)
            ).first()
        return (row[0], row[1]) if row else None

    def _apply_all(self, spec: StoreSpec, *, retry: bool, secrets_from: str = "") -> None:
        """Apply in three dependency waves, the requests of a wave in parallel.

        1. the Namespace; 2. everything a pod depends on or is governed by (LimitRange,
        ResourceQuota, NetworkPolicies, the Secret, Services, volumes, Ingress); 3. the
        workloads whose controllers create pods. A wave starts only when the previous one
        was accepted, so limits, quota and policies are in place before any pod is
        admitted, as with one-by-one applies, in well under half their time. The Secret is
        created only if absent (re-applying would rotate passwords); a clone's takes what
        only its copied database knows from `secrets_from`, its source's namespace.
        """
        assert self.cluster is not None
        cluster = self.cluster
        engine = get_engine(spec.engine)
        manifests = engine.workloads(spec, self.settings)
        namespace_first, rest = manifests[0], manifests[1:]
        cluster.apply(namespace_first)
        workloads = [m for m in rest if m["kind"] in POD_CREATING_KINDS]
        before_pods: list[Callable[[], object]] = [lambda: self._ensure_secret(spec, secrets_from)]
        before_pods += [lambda m=m: cluster.apply(m) for m in rest if m["kind"] not in POD_CREATING_KINDS]
        if retry:
            # A failed Job stays failed; delete it so the re-applied one runs again.
            before_pods += [
                lambda m=m: cluster.delete("batch/v1", "Job", m["metadata"]["name"], namespace=spec.namespace)
                for m in workloads
                if m["kind"] == "Job"
            ]
        self._in_parallel(before_pods)
        self._in_parallel([lambda m=m: cluster.apply(m) for m in workloads])

    def _ensure_secret(self, spec: StoreSpec, secrets_from: str = "") -> None:
        """Create the credentials Secret; an existing one (a retry) answers 409 and is kept."""
        assert self.cluster is not None
        engine = get_engine(spec.engine)
        fresh = not secrets_from
        values = engine.generate_secrets(spec) if fresh else clone.secret_values(self.cluster, spec, secrets_from)
        self.cluster.create_if_absent(engine.secret(spec, values))

    def _in_parallel(self, calls: Iterable[Callable[[], object]]) -> None:
        """Run every call (on the shared apply pool); then raise the most telling error, if any.

        An unreachable cluster wins over a refusal (the step is retried, not failed); else
        the first refusal in manifest order, so the owner always sees the same message.
        """
        futures = [self._apply_pool.submit(call) for call in calls]
        errors = [error for error in (f.exception() for f in futures) if error is not None]
        for error in errors:
            if isinstance(error, ClusterUnavailableError):
                raise error
        if errors:
            raise errors[0]

    def _save(self, store_id: str, expected_status: str, result: StepResult) -> None:
        changes = dict(result.changes, updated_at=self.clock())
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            outcome = session.execute(
                update(Store).where(col(Store.id) == store_id, col(Store.status) == expected_status).values(**changes)
            )
            if outcome.rowcount == 0:  # type: ignore[attr-defined]
                return  # the user changed the store meanwhile (e.g. deleted it): their intent wins
            saved = session.get(Store, store_id) if {"status", "applied_at"} & changes.keys() else None
            if result.audit_action:
                store = session.get(Store, store_id)
                audit.record(
                    session,
                    actor=SYSTEM.username,
                    action=result.audit_action,
                    store_id=store_id,
                    store_name=store.name if store else "",
                    detail=result.audit_detail,
                )
                if store is not None:  # the event, in the same transaction as the change
                    outbox.notify(session, result.audit_action, result.changes, store, at=changes["updated_at"])
        metrics.store_changed(saved, changes)  # after the commit: failures, time to ready, in queue
        if result.audit_action:
            log.info("store %s: %s %s", store_id, result.audit_action, result.audit_detail)


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text if len(text) <= 300 else text[:297] + "..."
