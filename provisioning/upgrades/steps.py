"""One reconciler step of a store being upgraded (status `upgrading`).

Phases, recorded in `upgrade_phase` so a killed worker continues where it was:
- queued: waits until fewer than MAX_CONCURRENT_UPGRADES stores are past it;
- backup: a `pre_upgrade` backup is taken (the backup steps run it); if it fails the
  upgrade does not start and the store stays as it was, `ready`;
- applying: the store's versions become the new ones and every manifest is re-applied
  with them, its Jobs re-run: the setup Job is the store's own upgrade step (WordPress's
  and WooCommerce's database updates through WP-CLI; Medusa's `db:migrate`);
- verifying: the same readiness checks and shopper path as provisioning, within
  UPGRADE_TIMEOUT_SECONDS. Then `ready` on the new versions.
- rolling_back: a failed Job or the budget running out puts the old versions back
  (re-applied) and restores the backup through the restore phases; the store is `ready`
  on its old versions and data, and says the upgrade failed and why.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from provisioning import lease
from provisioning.actors import SYSTEM
from provisioning.catalog import versions
from provisioning.db import session_scope
from provisioning.engines import get_engine
from provisioning.lifecycle.decisions import StepResult, minutes_or_seconds, spec_for
from provisioning.lifecycle.store_steps import StoreSteps
from provisioning.models import Backup, BackupStatus, Store, StoreStatus
from provisioning.upgrades.commands import QUEUED

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.engine import Engine as DbEngine

BACKUP, APPLYING, VERIFYING, ROLLING_BACK = "backup", "applying", "verifying", "rolling_back"
QUEUE_RECHECK = timedelta(seconds=5)
_ADMISSION = threading.Lock()


class UpgradeSteps(StoreSteps):
    """A mixin of the Reconciler (which supplies db, cluster, settings, clock, _apply_all)."""

    db: DbEngine
    identity: str

    def _in_parallel(self, calls: Iterable[Callable[[], object]]) -> None: ...

    def _upgrade_step(self, store_id: str) -> StepResult | None:
        assert self.cluster is not None
        loaded = self._load(store_id)
        if loaded is None or loaded[0].status != StoreStatus.UPGRADING:
            return None
        store, owner = loaded
        now = self.clock()
        phase = store.upgrade_phase or QUEUED
        target = versions.describe(store.upgrade_to)
        if phase == QUEUED:
            return self._admit(store)
        if phase == BACKUP:
            return self._upgrade_backup(store)
        if phase == APPLYING:
            store.versions = dict(store.upgrade_to)
            spec = spec_for(store, owner, self.settings)
            self._apply_all(spec, retry=True)  # Jobs re-run: the setup Job is the upgrade step
            return StepResult(
                {
                    "versions": dict(store.upgrade_to),
                    "upgrade_phase": VERIFYING,
                    "scale_applied_at": now,
                    "message": f"Upgrading to {target}: applied; running the store's upgrade step.",
                }
            )
        # VERIFYING
        spec = spec_for(store, owner, self.settings)
        changes: dict[str, Any] = {}
        readiness = self._readiness(spec, store, changes, now)
        failed_job = next((obs for obs in readiness.observed.values() if obs.reason == "JobFailed"), None)
        if failed_job is not None:
            return self._roll_back(store, owner, f"The upgrade step failed: {failed_job.message}", changes)
        if readiness.ready:
            changes.update(
                status=StoreStatus.READY,
                health="working",
                message=f"Ready on {target}. Open {store.url}",
                upgrade_phase="",
                next_attempt_at=None,
            )
            detail = f"from {versions.describe(store.upgrade_from)} to {target}{readiness.note}"
            return StepResult(changes, "store.upgraded", detail)
        why = readiness.waiting
        applied = store.scale_applied_at or now
        if now - applied >= timedelta(seconds=self.settings.upgrade_timeout_seconds):
            budget = minutes_or_seconds(self.settings.upgrade_timeout_seconds)
            return self._roll_back(store, owner, f"Not ready {budget} after the new versions: {why}", changes)
        changes.update(health="working", message=f"Upgrading to {target}: {why}"[:2000])
        return StepResult(changes)

    def _admit(self, store: Store) -> StepResult | None:
        """Start a queued upgrade if fewer than MAX_CONCURRENT_UPGRADES are past the queue.

        Count and write under one lock: queued stores are stepped in parallel, and only the
        leader's reconciler steps them, so a process lock makes the limit exact."""
        with _ADMISSION, session_scope(self.db) as session:
            lease.fence(session, self.identity)
            active = session.exec(
                select(func.count())
                .select_from(Store)
                .where(col(Store.status) == StoreStatus.UPGRADING, col(Store.upgrade_phase) != QUEUED)
            ).one()
            if active < self.settings.max_concurrent_upgrades:
                session.execute(
                    update(Store)
                    .where(col(Store.id) == store.id, col(Store.status) == StoreStatus.UPGRADING)
                    .values(upgrade_phase=BACKUP, message="Upgrading: taking a backup first.", updated_at=self.clock())
                )
                return None
        return StepResult(
            {
                "message": f"Upgrade queued: {active} stores are being upgraded; this one follows.",
                "next_attempt_at": self.clock() + QUEUE_RECHECK,
            }
        )

    def _upgrade_backup(self, store: Store) -> StepResult | None:
        """Take the pre-upgrade backup (row and id in one transaction), then follow it."""
        if store.upgrade_backup_id is None:
            with session_scope(self.db) as session:
                lease.fence(session, self.identity)
                backup = Backup(
                    store_id=store.id,
                    engine=store.engine,
                    kind="pre_upgrade",
                    requested_by=SYSTEM.username,
                    message="Taken before an upgrade: waiting for the worker to start it.",
                )
                session.add(backup)
                session.flush()
                session.execute(
                    update(Store)
                    .where(col(Store.id) == store.id, col(Store.status) == StoreStatus.UPGRADING)
                    .values(upgrade_backup_id=backup.id, message="Upgrading: taking a backup first.")
                )
            return None
        with Session(self.db) as session:
            backup = session.get(Backup, store.upgrade_backup_id)
        if backup is not None and backup.status == BackupStatus.SUCCEEDED:
            return StepResult({"upgrade_phase": APPLYING, "message": "Upgrading: backup taken; applying."})
        if backup is None or backup.status == BackupStatus.FAILED:
            why = backup.message if backup is not None else "it disappeared"
            changes = {
                "status": StoreStatus.READY,
                "health": "working",
                "upgrade_phase": "",
                "message": f"Ready. The upgrade did not start: the backup taken first failed: {why}"[:2000],
            }
            return StepResult(changes, "store.upgrade_failed", f"backup before the upgrade failed: {why}"[:500])
        return StepResult({"message": f"Upgrading: taking a backup first ({backup.message})"[:2000]})

    def _roll_back(self, store: Store, owner: str, why: str, changes: dict[str, Any]) -> StepResult:
        """Old versions re-applied, then the backup restored. The upgrade's Jobs are deleted
        (a failed or stuck upgrade step would hold readiness back for ever); the restore
        creates them again from the old versions once the data is back (restore_steps.py)."""
        assert self.cluster is not None
        cluster = self.cluster
        store.versions = dict(store.upgrade_from)
        spec = spec_for(store, owner, self.settings)
        manifests = get_engine(store.engine).workloads(spec, self.settings)
        jobs = [m["metadata"]["name"] for m in manifests if m["kind"] == "Job"]
        self._in_parallel([lambda n=n: cluster.delete("batch/v1", "Job", n, namespace=spec.namespace) for n in jobs])
        self._in_parallel([lambda m=m: cluster.apply(m) for m in manifests if m["kind"] != "Job"])
        now = self.clock()
        changes.update(
            versions=dict(store.upgrade_from),
            status=StoreStatus.RESTORING,
            health="erroring",
            restore_backup_id=store.upgrade_backup_id,
            restore_phase="stopping",
            restore_started_at=now,
            scale_applied_at=None,
            upgrade_phase=ROLLING_BACK,
            message=f"Upgrade failed: {why} Rolling back: restoring the backup taken before it."[:2000],
        )
        detail = (
            f"{why} (from {versions.describe(store.upgrade_from)} to {versions.describe(store.upgrade_to)}); "
            "rolling back"
        )
        return StepResult(changes, "store.upgrade_failed", detail[:2000])
