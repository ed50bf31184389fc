"""One reconciler step of a store being restored from a backup (status `restoring`).

Three phases, recorded in `restore_phase` so a killed worker resumes where it was:
1. stopping: the storefront goes offline (Ingress removed, Deployments to zero, cron
   suspended) while the database keeps or gets its replicas (a suspended store's is
   started); wait until no storefront pod is left and the database is ready, then create
   the restore Job with presigned GET URLs.
2. importing: follow the Job (download, verify the SHA-256 sums, import, unpack). If it
   fails the store is `failed` (kind `restore`) and says so: its data may be partly
   replaced, so it is not started; the owner restores again or deletes it.
3. starting: every workload back to the engine's counts and the Ingress re-applied, then
   the same readiness checks as provisioning and the shopper path, then `ready`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session

from provisioning.backups import clone, manifests, storage
from provisioning.backups.backup_steps import BackupSteps, finish_run, job_check, run_resources
from provisioning.catalog import versions
from provisioning.engines import get_engine
from provisioning.lifecycle.decisions import StepResult, spec_for
from provisioning.models import Backup, BackupStatus, FailureKind, Store, StoreStatus
from provisioning.operations import suspension

FRONT_KINDS = ("Deployment", "CronJob", "Ingress")
STOPPING, IMPORTING, STARTING = "stopping", "importing", "starting"


def restore_run_id(store: Store) -> str:
    """Unique per restore request (the same backup may be restored twice): names its Job."""
    started = store.restore_started_at.isoformat() if store.restore_started_at else ""
    return hashlib.sha256(f"{store.restore_backup_id}/{started}".encode()).hexdigest()


class RestoreSteps(BackupSteps):
    """A mixin of the Reconciler, beside the backup steps."""

    def _restore_step(self, store_id: str) -> StepResult | None:
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != StoreStatus.RESTORING:
            return None
        store, owner = loaded
        with Session(self.db) as session:
            backup = session.get(Backup, store.restore_backup_id or "")
        if backup is None or backup.status != BackupStatus.SUCCEEDED:
            return self._restore_failed(store, "The backup being restored no longer exists.")
        spec = spec_for(store, owner, self.settings)
        engine = get_engine(store.engine)
        workloads = engine.workloads(spec, self.settings)
        front = [m for m in workloads if m["kind"] in FRONT_KINDS]
        backing = [m for m in workloads if m["kind"] == "StatefulSet"]
        run_id = restore_run_id(store)
        now = self.clock()
        changes: dict[str, Any] = {}
        phase = store.restore_phase or STOPPING
        when = f"{backup.created_at:%Y-%m-%d %H:%M} UTC"
        if phase == STOPPING:
            if store.scale_applied_at is None:
                suspension.scale_down(self.cluster, front)
                suspension.restore(self.cluster, backing)  # the database must run for the import
                changes["scale_applied_at"] = now
            stopped, waiting = suspension.stopped(self.cluster, front)
            databases = [c for c in engine.checks(spec) if c.kind == "StatefulSet"]
            pending = next(
                (obs for obs in (self.cluster.observe(spec.namespace, c) for c in databases) if not obs.ready), None
            )
            if stopped and pending is None:
                urls = storage.presigned_urls(
                    self._object_store(),
                    backup.location,
                    method="GET",
                    ttl_seconds=self.settings.backup_url_ttl_seconds,
                )
                run_resources(self.cluster, spec, self.settings, kind=manifests.RESTORE, run_id=run_id, urls=urls)
                changes.update(restore_phase=IMPORTING, message=f"Restoring the backup of {when}: importing.")
            else:
                why = waiting or (pending.message if pending else "")
                changes.update(health="working", message=f"Restoring the backup of {when}: stopping. {why}"[:2000])
            return StepResult(changes)
        if phase == IMPORTING:
            observed = self.cluster.observe(spec.namespace, job_check(manifests.RESTORE, run_id))
            if observed.ready:
                changes.update(
                    restore_phase=STARTING, scale_applied_at=None, message=f"Restored the backup of {when}: starting."
                )
                return StepResult(changes)
            if observed.reason in ("JobFailed", "NotCreated"):
                finish_run(self.cluster, spec.namespace, manifests.RESTORE, run_id)
                why = observed.message if observed.reason == "JobFailed" else "Its Job disappeared before finishing."
                return self._restore_failed(store, why)
            changes.update(message=f"Restoring the backup of {when}: {observed.message}"[:2000])
            return StepResult(changes)
        # STARTING: the same as a resume, from the engine's own manifests.
        if store.scale_applied_at is None:
            # Deleted only now, after `starting` was saved: a worker killed in between must
            # not find the Job gone and take the restore for failed.
            finish_run(self.cluster, spec.namespace, manifests.RESTORE, run_id)
            suspension.restore(self.cluster, workloads)
            for job in (m for m in workloads if m["kind"] == "Job"):  # after a rolled-back upgrade: its setup
                if clone.restoring_clone(store):  # setup again: it adopts the copied data (clone.py)
                    self.cluster.delete("batch/v1", "Job", job["metadata"]["name"], namespace=spec.namespace)
                self.cluster.create_if_absent(job)
            changes["scale_applied_at"] = now
            if clone.restoring_clone(store):  # readiness from the next pass: never the old Job's
                changes.update(message=f"Restored the backup of {when}: setting the copy up as this store.")
                return StepResult(changes)
        elif clone.restoring_clone(store):  # a deletion the API finished only after the create above
            for job in (m for m in workloads if m["kind"] == "Job"):
                self.cluster.create_if_absent(job)
        started = store.restore_started_at or now
        readiness = self._readiness(spec, store, changes, now)
        if readiness.ready:
            changes.update(
                status=StoreStatus.READY,
                health="working",
                message=f"Ready: restored from the backup of {when}. Open {store.url}",
                restore_phase="",
                next_attempt_at=None,
                failure_kind=None,
                suspended_at=None,
            )
            detail = f"backup {backup.id} of {when}; ready in {(now - started).total_seconds():.0f}s{readiness.note}"
            if clone.restoring_clone(store):  # a clone's first `ready`: an order fulfilled
                changes.update(ready_at=now, message=f"Ready: a copy of the backup of {when}. Open {store.url}")
                return StepResult(changes, "store.ready", f"cloned from {detail}")
            if store.upgrade_phase == "rolling_back":  # the end of a failed upgrade (upgrades/steps.py)
                changes.update(
                    upgrade_phase="",
                    message=(
                        f"Ready on the previous versions ({versions.describe(store.versions)}) with the data of "
                        f"the backup taken before the upgrade to {versions.describe(store.upgrade_to)}, which "
                        f"failed (see the activity log). Open {store.url}"
                    )[:2000],
                )
                return StepResult(changes, "store.upgrade_rolled_back", detail)
            return StepResult(changes, "store.restored", detail)
        pending_message = readiness.waiting
        return self._keep_watching(
            changes,
            namespace=spec.namespace,
            started=started,
            now=now,
            pending_message=pending_message,
            after="the restore",
            trouble_label="starting after the restore",
            working_message=f"Restored the backup of {when}: starting. {pending_message}",
        )

    def _restore_failed(self, store: Store, why: str) -> StepResult:
        message = (
            f"Restore failed: {why} The store's data may be partly restored, so it was not started: "
            "restore a backup again, or delete the store."
        )
        changes = {
            "status": StoreStatus.FAILED,
            "failure_kind": FailureKind.RESTORE,
            "health": "erroring",
            "restore_phase": "",
            "upgrade_phase": "",
            "message": message[:2000],
            "next_attempt_at": None,
        }
        return StepResult(changes, "store.failed", f"restore: {why}"[:500])
