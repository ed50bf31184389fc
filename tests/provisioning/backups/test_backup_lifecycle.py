"""Backups and restores through the service and the reconciler, on the in-memory FakeCluster
and FakeObjectStore: every transition and failure, quickly. The scripts run against real
servers in tests/backups/; the Jobs on a real control plane in tests/cluster/test_backups.py."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.backups import manifests
from provisioning.backups.restore_steps import restore_run_id
from provisioning.errors import InvalidStateError, NotConfiguredError, NotFoundError
from provisioning.models import Backup, BackupStatus, FailureKind, StoreStatus, WorkerLease, utcnow
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import Clock, FakeCluster, FakeObjectStore
from tests.provisioning.backups.conftest import SECRET_KEY, backup_row, ready_store, take_backup
from tests.shared.platform import audit_actions, set_store, store_row


def test_without_backup_storage_nothing_can_be_backed_up_and_the_message_says_what_to_set(
    db: Engine, settings: Settings, alice: Actor, cluster: FakeCluster, clock: Clock
) -> None:
    bare = dataclasses.replace(settings, backup_s3_endpoint="")
    stores = StoreService(db, bare)
    sid = ready_store(stores, Reconciler(db, bare, lambda: cluster, identity="r", clock=clock), alice)
    with pytest.raises(NotConfiguredError, match="BACKUP_S3_ENDPOINT"):
        stores.backup_store(alice, sid)
    with pytest.raises(NotConfiguredError):
        stores.restore_backup(alice, sid, "0" * 32)


def test_a_backup_runs_its_job_with_presigned_urls_and_records_the_size(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    ns = store_row(db, sid).namespace
    requested = stores.backup_store(alice, sid)
    assert (requested.status, requested.kind, requested.requested_by) == ("pending", "manual", "alice")

    reconciler.run_once()
    running = backup_row(db, requested.id)
    assert running.status == BackupStatus.RUNNING
    assert running.location == f"stores/{sid}/{requested.id}"
    name = manifests.job_name("backup", requested.id)
    job = cluster.objects[("Job", ns, name)]
    secret = cluster.objects[("Secret", ns, name)]
    assert set(secret["stringData"]) == {"URL_DATABASE", "URL_FILES", "URL_MANIFEST"}
    assert {key for _, key in objects.presigned} == {
        f"{running.location}/database",
        f"{running.location}/files.tar.gz",
        f"{running.location}/manifest.json",
    }
    assert all(method == "PUT" for method, _ in objects.presigned)
    assert ("ConfigMap", ns, "backup-scripts") in cluster.objects
    assert ("NetworkPolicy", ns, "allow-backup-egress") in cluster.objects
    # The bucket's credentials never reach the store's namespace.
    everything = json.dumps([obj for (_, n, _), obj in cluster.objects.items() if n == ns])
    assert SECRET_KEY not in everything and "AKIDTEST" not in everything
    assert job["spec"]["template"]["spec"]["containers"][0]["name"] == "upload"

    objects.upload_backup(running.location, database=b"x" * 300, files=b"y" * 50)
    reconciler.run_once()
    done = backup_row(db, requested.id)
    assert (done.status, done.size_bytes) == (BackupStatus.SUCCEEDED, 350)
    assert done.finished_at is not None
    assert ("Job", ns, name) not in cluster.objects, "the Job (and with it its pods and URLs) is deleted"
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "Job", "the URLs' Secret goes with its Job"
    assert audit_actions(db, sid)[-2:] == ["backup.requested", "backup.succeeded"]
    assert [b.id for b in stores.list_backups(alice, sid)] == [requested.id]


def test_a_job_that_reports_success_without_uploading_is_a_failed_backup_not_verifiable_on_kwok(
    db: Engine, stores: StoreService, reconciler: Reconciler, alice: Actor
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = stores.backup_store(alice, sid)
    reconciler.run_once()
    reconciler.run_once()  # the (simulated) Job completed; nothing is in the bucket
    row = backup_row(db, backup.id)
    assert row.status == BackupStatus.FAILED
    assert "manifest is missing" in row.message
    assert "not verifiable here" in row.message


def test_a_failed_job_fails_the_backup_with_its_reason_and_deletes_the_urls(
    db: Engine, stores: StoreService, reconciler: Reconciler, cluster: FakeCluster, alice: Actor
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = stores.backup_store(alice, sid)
    reconciler.run_once()
    cluster.job_failed = True
    reconciler.run_once()
    row = backup_row(db, backup.id)
    assert row.status == BackupStatus.FAILED and "BackoffLimitExceeded" in row.message
    assert ("Job", store_row(db, sid).namespace, manifests.job_name("backup", backup.id)) not in cluster.objects
    assert "backup.failed" in audit_actions(db, sid)


def test_the_object_store_being_down_keeps_the_backup_waiting_and_says_so(
    db: Engine, stores: StoreService, reconciler: Reconciler, objects: FakeObjectStore, alice: Actor
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = stores.backup_store(alice, sid)
    reconciler.run_once()
    objects.reachable = False
    reconciler.run_once()
    row = backup_row(db, backup.id)
    assert row.status == BackupStatus.RUNNING and "Waiting for the object store" in row.message
    objects.reachable = True
    objects.upload_backup(row.location)
    reconciler._s3 = objects  # type: ignore[assignment]  # (a real client is rebuilt from settings)
    reconciler.run_once()
    assert backup_row(db, backup.id).status == BackupStatus.SUCCEEDED


def test_retention_keeps_the_newest_and_deletes_older_objects_and_rows(
    db: Engine, stores: StoreService, reconciler: Reconciler, objects: FakeObjectStore, alice: Actor, clock: Clock
) -> None:
    sid = ready_store(stores, reconciler, alice)
    first = take_backup(stores, reconciler, objects, alice, sid)
    clock.advance(60)
    second = take_backup(stores, reconciler, objects, alice, sid)
    clock.advance(60)
    third = take_backup(stores, reconciler, objects, alice, sid)
    assert [b.id for b in stores.list_backups(alice, sid)] == [third.id, second.id]
    assert not [k for k in objects.objects if k.startswith(first.location)]
    assert [k for k in objects.objects if k.startswith(second.location)]
    assert "backup.deleted" in audit_actions(db, sid)


def test_one_operation_at_a_time_and_only_on_running_stores(
    db: Engine, stores: StoreService, reconciler: Reconciler, alice: Actor, bob: Actor
) -> None:
    sid = ready_store(stores, reconciler, alice)
    stores.backup_store(alice, sid)
    with pytest.raises(InvalidStateError, match="already running"):
        stores.backup_store(alice, sid)
    with pytest.raises(NotFoundError):
        stores.backup_store(bob, sid)
    with pytest.raises(NotFoundError):
        stores.list_backups(bob, sid)
    other = ready_store(stores, reconciler, alice, "shop-two")
    set_store(db, other, status=StoreStatus.SUSPENDED)
    with pytest.raises(InvalidStateError, match="Only a running store"):
        stores.backup_store(alice, other)


def test_backups_are_scheduled_per_ready_store_at_the_interval(
    db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, objects: FakeObjectStore, alice: Actor
) -> None:
    hourly = dataclasses.replace(settings, backup_interval_hours=1)
    stores = StoreService(db, hourly)
    reconciler = Reconciler(db, hourly, lambda: cluster, identity="r1", clock=clock)
    reconciler._s3 = objects  # type: ignore[assignment]
    sid = ready_store(stores, reconciler, alice)

    def kinds() -> list[str]:
        with Session(db) as session:
            return list(session.exec(select(Backup.kind).where(Backup.store_id == sid)).all())

    clock.advance(61)  # the schedule is looked at once a minute
    reconciler.run_once()
    assert kinds() == ["scheduled"]
    clock.advance(30 * 60)
    reconciler.run_once()
    assert kinds() == ["scheduled"], "not again within the interval"
    clock.advance(31 * 60)
    reconciler.run_once()
    assert kinds() == ["scheduled", "scheduled"]


def test_restore_stops_the_storefront_keeps_the_database_imports_then_starts_the_store(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    ns = store_row(db, sid).namespace
    backup = take_backup(stores, reconciler, objects, alice, sid)
    objects.presigned.clear()

    restoring = stores.restore_backup(alice, sid, backup.id)
    assert (restoring.status, restoring.restore_phase) == (StoreStatus.RESTORING, "stopping")
    with pytest.raises(InvalidStateError, match="being restored"):
        stores.backup_store(alice, sid)

    reconciler.run_once()  # stopping: the storefront is off, the database stays up
    row = store_row(db, sid)
    assert row.restore_phase == "importing"
    assert cluster.objects[("Deployment", ns, "wordpress")]["spec"]["replicas"] == 0
    assert cluster.objects[("StatefulSet", ns, "mariadb")]["spec"]["replicas"] == 1
    assert ("Ingress", ns, "store") not in cluster.objects
    name = manifests.job_name("restore", restore_run_id(row))
    job = cluster.objects[("Job", ns, name)]
    assert [c["name"] for c in job["spec"]["template"]["spec"]["initContainers"]] == ["download"]
    assert {method for method, _ in objects.presigned} == {"GET"}

    reconciler.run_once()  # importing: the Job completed
    row = store_row(db, sid)
    assert row.restore_phase == "starting"
    assert ("Job", ns, name) in cluster.objects, "kept until `starting` is saved"

    reconciler.run_once()  # starting: the same checks as a resume
    row = store_row(db, sid)
    assert row.status == StoreStatus.READY and "restored from the backup" in row.message
    assert cluster.objects[("Deployment", ns, "wordpress")]["spec"]["replicas"] == 1
    assert ("Ingress", ns, "store") in cluster.objects
    assert ("Job", ns, name) not in cluster.objects
    assert audit_actions(db, sid)[-2:] == ["store.restore_requested", "store.restored"]


def test_a_failed_restore_fails_the_store_and_another_restore_recovers_it(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
    clock: Clock,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = take_backup(stores, reconciler, objects, alice, sid)
    stores.restore_backup(alice, sid, backup.id)
    reconciler.run_once()
    cluster.job_failed = True
    reconciler.run_once()
    row = store_row(db, sid)
    assert (row.status, row.failure_kind) == (StoreStatus.FAILED, FailureKind.RESTORE)
    assert "Restore failed" in row.message and "restore a backup again" in row.message
    assert cluster.objects[("Deployment", row.namespace, "wordpress")]["spec"]["replicas"] == 0, "not started"

    cluster.job_failed = False
    clock.advance(5)
    stores.restore_backup(alice, sid, backup.id)  # a new run: a new Job name
    for _ in range(3):
        reconciler.run_once()
    assert store_row(db, sid).status == StoreStatus.READY


def test_a_worker_killed_mid_restore_is_continued_by_the_next_one(
    db: Engine,
    settings: Settings,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
    clock: Clock,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = take_backup(stores, reconciler, objects, alice, sid)
    stores.restore_backup(alice, sid, backup.id)
    reconciler.run_once()
    assert store_row(db, sid).restore_phase == "importing"
    successor = next_worker(db, settings, cluster, objects, clock)
    jobs = [k for k in cluster.objects if k[0] == "Job" and k[2].startswith("restore-")]
    successor.run_once()
    assert store_row(db, sid).restore_phase == "starting"
    assert [k for k in cluster.objects if k[0] == "Job" and k[2].startswith("restore-")] == jobs, "no second import"
    successor.run_once()
    assert store_row(db, sid).status == StoreStatus.READY


def test_only_successful_backups_of_the_store_can_be_restored(
    db: Engine, stores: StoreService, reconciler: Reconciler, cluster: FakeCluster, alice: Actor
) -> None:
    sid = ready_store(stores, reconciler, alice)
    other = ready_store(stores, reconciler, alice, "shop-two")
    backup = stores.backup_store(alice, sid)
    reconciler.run_once()
    cluster.job_failed = True
    reconciler.run_once()
    with pytest.raises(InvalidStateError, match="Only a successful backup"):
        stores.restore_backup(alice, sid, backup.id)
    with pytest.raises(NotFoundError, match="No such backup"):
        stores.restore_backup(alice, other, backup.id)
    with pytest.raises(NotFoundError):
        stores.restore_backup(alice, sid, 42)  # type: ignore[arg-type]


def test_backups_of_a_deleted_store_are_not_started(
    db: Engine, stores: StoreService, reconciler: Reconciler, alice: Actor
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = stores.backup_store(alice, sid)
    stores.delete_store(alice, sid)
    reconciler.run_once()
    row = backup_row(db, backup.id)
    assert row.status == BackupStatus.FAILED and "deleting" in row.message
    with Session(db) as session:
        assert session.exec(select(Backup).where(col(Backup.status) == BackupStatus.PENDING)).all() == []


def test_deleting_a_store_deletes_its_backups_from_the_bucket_and_the_list(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    kept = ready_store(stores, reconciler, alice, "shop-kept")
    take_backup(stores, reconciler, objects, alice, sid)
    other = take_backup(stores, reconciler, objects, alice, kept)
    stores.delete_store(alice, sid)
    reconciler.run_once()
    cluster.finish_termination()
    objects.reachable = False
    reconciler.run_once()
    row = store_row(db, sid)
    assert row.status == StoreStatus.DELETING and "waiting for the object store" in row.message
    objects.reachable = True
    reconciler._s3 = objects  # type: ignore[assignment]
    reconciler.run_once()
    row = store_row(db, sid)
    assert row.status == StoreStatus.DELETED and "backup bucket" in row.message
    assert not [k for k in objects.objects if f"/{sid}/" in k]
    assert [k for k in objects.objects if k.startswith(other.location)], "other stores' backups stay"
    with Session(db) as session:
        assert session.exec(select(Backup).where(Backup.store_id == sid)).all() == []
    assert "backup.deleted" in audit_actions(db, sid)


def test_a_worker_killed_mid_backup_is_followed_by_the_next_one_without_a_second_job(
    db: Engine,
    settings: Settings,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
    clock: Clock,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = stores.backup_store(alice, sid)
    reconciler.run_once()  # its Job is running when the worker dies
    assert backup_row(db, backup.id).status == BackupStatus.RUNNING
    successor = next_worker(db, settings, cluster, objects, clock)
    jobs = [k for k in cluster.objects if k[0] == "Job" and k[2].startswith("backup-")]
    objects.upload_backup(backup_row(db, backup.id).location)
    successor.run_once()
    assert [k for k in cluster.objects if k[0] == "Job" and k[2].startswith("backup-")] == [], "finished, deleted"
    made = [c for c in cluster.calls if c[0] in ("create", "apply") and c[1] == "Job" and c[3] == jobs[0][2]]
    assert len(jobs) == 1 and len(made) == 1, made
    done = backup_row(db, backup.id)
    assert done.status == BackupStatus.SUCCEEDED, done.message


def next_worker(
    db: Engine, settings: Settings, cluster: FakeCluster, objects: FakeObjectStore, clock: Clock
) -> Reconciler:
    """The worker that takes over once the first one died (its lease ran out)."""
    with Session(db) as session:
        session.execute(update(WorkerLease).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    successor = Reconciler(db, settings, lambda: cluster, identity="r2", clock=clock)
    successor._s3 = objects  # type: ignore[assignment]
    return successor
