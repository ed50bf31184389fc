"""The reconciler's side of backups: schedule them, run their Jobs, record the outcome,
keep BACKUP_RETENTION per store.

A backup row moves pending -> running (its Job and presigned URLs created) -> succeeded
or failed. Everything is idempotent and read back from the cluster and the object store,
so a worker killed at any point finds the row where it left it: a pending row re-creates
the (same-named) Job if absent, a running one reads the Job's outcome again.
"""

from __future__ import annotations

import logging
import types
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from provisioning import audit, lease
from provisioning.actors import SYSTEM
from provisioning.backups import manifests, storage
from provisioning.backups.commands import UNFINISHED
from provisioning.backups.s3 import S3Error
from provisioning.db import session_scope
from provisioning.engines.base import Check
from provisioning.errors import ClusterRejectedError, ClusterUnavailableError
from provisioning.lifecycle.decisions import StepResult, spec_for
from provisioning.lifecycle.store_steps import StoreSteps
from provisioning.models import Backup, BackupStatus, Store, StoreStatus, User
from provisioning.notifications import events, outbox
from provisioning.notifications.events import STORE_FIELDS

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.backups.s3 import S3Client
    from provisioning.engines.base import StoreSpec
    from provisioning.lifecycle.decisions import Cluster
    from provisioning.settings import Settings

log = logging.getLogger(__name__)

SCHEDULE_CHECK_INTERVAL = timedelta(seconds=60)


def run_resources(cluster: Cluster, spec: StoreSpec, settings: Settings, *, kind: str, run_id: str, urls: dict) -> None:
    """Scripts, policies, the Job and its URLs of one backup or restore run (all idempotent).

    The Job first: its URLs' Secret is owned by it (deleted with it). Its pod waits for
    the Secret (the kubelet retries a missing secretKeyRef), a moment later."""
    cluster.apply(manifests.scripts_configmap(spec))
    for policy in manifests.network_policies(spec, settings):
        cluster.apply(policy)
    name = manifests.job_name(kind, run_id)
    cluster.create_if_absent(manifests.job(spec, settings, kind=kind, backup_id=run_id))
    job = cluster.get("batch/v1", "Job", name, namespace=spec.namespace)
    if job is None:
        raise ClusterRejectedError(f"The {kind} Job {name} vanished right after it was created.")
    uid = job["metadata"].get("uid", "")
    cluster.create_if_absent(manifests.urls_secret(spec, kind, run_id, urls, job_uid=uid))


def finish_run(cluster: Cluster, namespace: str, kind: str, run_id: str) -> None:
    """Delete a finished run's Job: its pods and its URLs' Secret go with it (the outcome and
    any failure message are already in the database)."""
    cluster.delete("batch/v1", "Job", manifests.job_name(kind, run_id), namespace=namespace)


def job_check(kind: str, run_id: str) -> Check:
    return Check(condition=f"{kind.title()}Done", kind="Job", name=manifests.job_name(kind, run_id), title=kind.title())


class BackupSteps(StoreSteps):
    """A mixin of the Reconciler (which supplies db, cluster, settings, clock, identity)."""

    db: DbEngine
    identity: str
    _last_schedule: datetime | None = None
    _s3: S3Client | None = None

    def _object_store(self) -> S3Client:
        if self._s3 is None:
            client = storage.client_for(self.settings)
            client.create_bucket()  # once per process; S3Error leaves _s3 unset to retry
            self._s3 = client
        return self._s3

    # -- choosing work --------------------------------------------------------------------

    def _unfinished_backups(self) -> list[str]:
        if not self.settings.backups_configured:
            return []
        with Session(self.db) as session:
            return list(session.exec(select(Backup.id).where(col(Backup.status).in_(UNFINISHED))).all())

    def _schedule_backups(self) -> None:
        """A scheduled backup for each ready store whose newest backup is older than the interval."""
        hours = self.settings.backup_interval_hours
        now = self.clock()
        if not (self.settings.backups_configured and hours):
            return
        if self._last_schedule and now - self._last_schedule < SCHEDULE_CHECK_INTERVAL:
            return
        self._last_schedule = now
        cutoff = now - timedelta(hours=hours)
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            newest = (
                select(Backup.store_id, func.max(Backup.created_at).label("newest"))
                .group_by(col(Backup.store_id))
                .subquery()
            )
            due = session.exec(
                select(Store)
                .outerjoin(newest, col(newest.c.store_id) == col(Store.id))
                .where(
                    col(Store.status) == StoreStatus.READY,
                    col(newest.c.newest).is_(None) | (col(newest.c.newest) <= cutoff),
                )
            ).all()
            for store in due:
                session.add(
                    Backup(
                        store_id=store.id,
                        engine=store.engine,
                        kind="scheduled",
                        requested_by=SYSTEM.username,
                        message="Scheduled: waiting for the worker to start it.",
                        created_at=now,
                    )
                )
                audit.record(
                    session,
                    actor=SYSTEM.username,
                    action="backup.requested",
                    store_id=store.id,
                    store_name=store.name,
                    detail=f"scheduled (every {hours} h)",
                )

    # -- one backup -----------------------------------------------------------------------

    def _backup_step_safely(self, backup_id: str) -> None:
        try:
            self._backup_step(backup_id)
        except (ClusterUnavailableError, lease.LeaseLostError):
            raise  # the reconciler's outage handling
        except S3Error as error:  # the object store is down or refuses: say so, retry next pass
            self._s3 = None
            self._update_backup(backup_id, None, {"message": f"Waiting for the object store: {error}"[:1000]})
        except ClusterRejectedError as error:
            self._update_backup(
                backup_id,
                None,
                {
                    "status": BackupStatus.FAILED,
                    "finished_at": self.clock(),
                    "message": f"The cluster refused it: {error}"[:1000],
                },
            )
        except Exception as error:  # a bug must not stop the other backups
            log.exception("backup %s: step failed", backup_id)
            self._update_backup(backup_id, None, {"message": f"Internal error ({type(error).__name__}); retrying."})

    def _backup_step(self, backup_id: str) -> None:
        assert self.cluster is not None
        with Session(self.db) as session:
            row = session.exec(
                select(Backup, Store, User.username)
                .join(Store, col(Store.id) == Backup.store_id)
                .join(User, col(User.id) == Store.owner_id)
                .where(Backup.id == backup_id)
            ).first()
        if row is None:
            return
        backup, store, owner = row
        now = self.clock()
        if backup.status == BackupStatus.PENDING:
            before_upgrade = store.status == StoreStatus.UPGRADING and backup.kind == "pre_upgrade"
            if store.status != StoreStatus.READY and not before_upgrade:
                self._finish(backup, store, ok=False, message=f"Not taken: the store is {store.status}.")
                return
            spec = spec_for(store, owner, self.settings)
            where = backup.location or manifests.location(self.settings, store.id, backup.id)
            urls = storage.presigned_urls(
                self._object_store(), where, method="PUT", ttl_seconds=self.settings.backup_url_ttl_seconds
            )
            run_resources(self.cluster, spec, self.settings, kind=manifests.BACKUP, run_id=backup.id, urls=urls)
            self._update_backup(
                backup.id,
                BackupStatus.PENDING,
                {
                    "status": BackupStatus.RUNNING,
                    "location": where,
                    "started_at": now,
                    "message": "Running: dumping the database and archiving the files.",
                },
            )
            return
        observed = self.cluster.observe(store.namespace, job_check(manifests.BACKUP, backup.id))
        if observed.ready:
            try:
                size = storage.stored_size(self._object_store(), backup.location)
            except storage.IncompleteBackupError as error:
                message = str(error)
                if self._store_simulated(store.namespace):
                    message += " Its Job ran on a simulated node, where no container runs: not verifiable here."
                self._finish(backup, store, ok=False, message=message)
                return
            self._finish(backup, store, ok=True, message="Complete.", size=size)
            self._apply_retention(store)
        elif observed.reason == "JobFailed":
            self._finish(backup, store, ok=False, message=observed.message)
        elif observed.reason == "NotCreated":
            self._finish(backup, store, ok=False, message="Its Job disappeared before finishing (was it deleted?).")
        elif (backup.started_at or now) + timedelta(seconds=self.settings.backup_deadline_seconds + 300) < now:
            self._finish(backup, store, ok=False, message=f"Did not finish in time: {observed.message}")
        else:
            self._update_backup(backup.id, BackupStatus.RUNNING, {"message": f"Running: {observed.message}"[:1000]})

    def _finish(self, backup: Backup, store: Store, *, ok: bool, message: str, size: int | None = None) -> None:
        now = self.clock()
        changes: dict[str, Any] = {
            "status": BackupStatus.SUCCEEDED if ok else BackupStatus.FAILED,
            "finished_at": now,
            "message": message[:1000],
        }
        if size is not None:
            changes["size_bytes"] = size
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            outcome = session.execute(
                update(Backup).where(col(Backup.id) == backup.id, col(Backup.status) == backup.status).values(**changes)
            )
            if outcome.rowcount == 0:  # type: ignore[attr-defined]
                return
            action = "backup.succeeded" if ok else "backup.failed"
            detail = f"{backup.kind}; {size} bytes" if ok else f"{backup.kind}; {message}"
            audit.record(
                session, actor=SYSTEM.username, action=action, store_id=store.id, store_name=store.name, detail=detail
            )
            if not ok:
                event_store = types.SimpleNamespace(
                    **{name: getattr(store, name) for name in STORE_FIELDS}, owner_id=store.owner_id
                )
                event_store.message = f"Backup failed: {message}"[:1000]
                outbox.enqueue_store_event(session, events.BACKUP_FAILED, event_store, at=now)  # type: ignore[arg-type]
        if backup.status == BackupStatus.RUNNING:  # the Job, its pods and its URLs are no use any more
            finish_run(self.cluster, store.namespace, manifests.BACKUP, backup.id)  # type: ignore[arg-type]
        log.info("backup %s of store %s: %s", backup.id, store.name, action)

    def _apply_retention(self, store: Store) -> None:
        """Delete the store's successful backups beyond the newest BACKUP_RETENTION (objects first)."""
        keep = self.settings.backup_retention
        with Session(self.db) as session:
            old = session.exec(
                select(Backup)
                .where(Backup.store_id == store.id, col(Backup.status) == BackupStatus.SUCCEEDED)
                .order_by(col(Backup.created_at).desc())
                .offset(keep)
            ).all()
        for backup in old:
            if store.restore_backup_id == backup.id and store.status == StoreStatus.RESTORING:
                continue  # being restored right now
            storage.delete_objects(self._object_store(), backup.location)
            with session_scope(self.db) as session:
                lease.fence(session, self.identity)
                row = session.get(Backup, backup.id)
                if row is not None:
                    session.delete(row)
                audit.record(
                    session,
                    actor=SYSTEM.username,
                    action="backup.deleted",
                    store_id=store.id,
                    store_name=store.name,
                    detail=f"retention (newest {keep} kept): the backup of {backup.created_at:%Y-%m-%d %H:%M} UTC",
                )

    def _delete_step(self, store_id: str) -> StepResult | None:
        """Deleting a store leaves nothing behind: once its namespace is gone, its backups'
        objects are deleted from the bucket and their rows from the list (the audit log
        keeps the history). The object store being down keeps the store `deleting`."""
        result = super()._delete_step(store_id)
        if (
            result is None
            or result.changes.get("status") != StoreStatus.DELETED
            or not self.settings.backups_configured
        ):
            return result
        try:
            self._forget_backups(store_id)
        except S3Error as error:
            self._s3 = None
            return StepResult(
                {"message": f"Deleting the store's backups: waiting for the object store: {error}"[:2000]}
            )
        return StepResult(
            dict(result.changes, message="Deleted; nothing is left in the cluster or the backup bucket."),
            result.audit_action,
            result.audit_detail,
        )

    def _forget_backups(self, store_id: str) -> None:
        with Session(self.db) as session:
            rows = session.exec(select(Backup).where(Backup.store_id == store_id)).all()
        prefix = manifests.location(self.settings, store_id, "")
        for obj in self._object_store().list(prefix.rstrip("/") + "/"):
            self._object_store().delete(obj.key)
        if not rows:
            return
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            for row in rows:
                backup = session.get(Backup, row.id)
                if backup is not None:
                    session.delete(backup)
            audit.record(
                session,
                actor=SYSTEM.username,
                action="backup.deleted",
                store_id=store_id,
                detail=f"{len(rows)} backup(s) deleted with the store",
            )

    def _update_backup(self, backup_id: str, expected: str | None, changes: dict[str, Any]) -> None:
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            query = update(Backup).where(col(Backup.id) == backup_id)
            if expected is not None:
                query = query.where(col(Backup.status) == expected)
            session.execute(query.values(**changes))
