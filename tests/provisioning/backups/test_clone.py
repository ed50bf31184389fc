"""A new store from another store's backup (provisioning/backups/clone.py), on the fakes:
it provisions, restores the backup, re-runs its setup to adopt the copy, then is `ready`."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.backups import manifests
from provisioning.backups.restore_steps import restore_run_id
from provisioning.engines.woocommerce_contract import KEY_ADMIN_PASSWORD, KEY_DB_PASSWORD
from provisioning.errors import InvalidStateError, NameTakenError, NotConfiguredError, NotFoundError
from provisioning.models import StoreStatus
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import FakeCluster, FakeObjectStore
from tests.provisioning.backups.conftest import ready_store, take_backup
from tests.shared.platform import audit_actions, store_row


def test_a_clone_provisions_restores_the_backup_sets_itself_up_then_is_ready(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    source = store_row(db, sid)
    backup = take_backup(stores, reconciler, objects, alice, sid)
    objects.presigned.clear()

    clone = stores.clone_store(alice, sid, backup.id, "shop-copy")
    assert (clone.status, clone.cloned_from, clone.engine, clone.plan) == (
        StoreStatus.REQUESTED,
        backup.id,
        source.engine,
        source.plan,
    )
    assert clone.admin_user == source.admin_user, "the copied database knows its source's admin"

    reconciler.run_once()  # provisioned: instead of `ready`, the restore starts
    row = store_row(db, clone.id)
    assert (row.status, row.restore_phase, row.restore_backup_id) == (StoreStatus.RESTORING, "stopping", backup.id)
    assert row.ready_at is None
    ns = row.namespace
    secret = cluster.objects[("Secret", ns, "store-credentials")]["stringData"]
    source_secret = cluster.objects[("Secret", source.namespace, "store-credentials")]["stringData"]
    assert secret[KEY_ADMIN_PASSWORD] == source_secret[KEY_ADMIN_PASSWORD], "the hash in the copy matches"
    assert secret[KEY_DB_PASSWORD] != source_secret[KEY_DB_PASSWORD], "everything else is its own"

    reconciler.run_once()  # stopping -> importing: the source's backup, read with GET URLs
    row = store_row(db, clone.id)
    assert row.restore_phase == "importing"
    assert ("Job", ns, manifests.job_name("restore", restore_run_id(row))) in cluster.objects
    assert {key.rsplit("/", 1)[0] for _, key in objects.presigned} == {backup.location}
    assert {method for method, _ in objects.presigned} == {"GET"}

    reconciler.run_once()  # importing -> starting
    cluster.calls.clear()
    reconciler.run_once()  # starting: the setup Job runs again, to adopt the copy
    assert ("delete", "Job", ns, "store-setup") in cluster.calls
    assert ("create", "Job", ns, "store-setup") in cluster.calls
    assert store_row(db, clone.id).status == StoreStatus.RESTORING, "never read the old Job's success"

    reconciler.run_once()
    row = store_row(db, clone.id)
    assert row.status == StoreStatus.READY and "a copy of the backup" in row.message
    assert row.ready_at is not None and row.restore_phase == ""
    assert audit_actions(db, clone.id) == ["store.create", "store.provisioning", "store.ready"]
    assert store_row(db, sid).status == StoreStatus.READY, "the source is untouched"

    # A later restore into the clone is a plain restore (no setup re-run, audited as such).
    own = take_backup(stores, reconciler, objects, alice, clone.id)
    stores.restore_backup(alice, clone.id, own.id)
    cluster.calls.clear()
    for _ in range(3):
        reconciler.run_once()
    assert store_row(db, clone.id).status == StoreStatus.READY
    assert ("delete", "Job", ns, "store-setup") not in cluster.calls
    assert audit_actions(db, clone.id)[-1] == "store.restored"


def test_only_a_successful_backup_of_a_visible_store_can_be_cloned_under_a_free_name(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
    bob: Actor,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    other = ready_store(stores, reconciler, alice, "shop-two")
    backup = take_backup(stores, reconciler, objects, alice, sid)
    with pytest.raises(NotFoundError, match="No such backup"):
        stores.clone_store(alice, other, backup.id, "shop-copy")
    with pytest.raises(NotFoundError):
        stores.clone_store(bob, sid, backup.id, "shop-copy")  # not bob's store
    with pytest.raises(NameTakenError):
        stores.clone_store(alice, sid, backup.id, "shop-two")
    failing = stores.backup_store(alice, sid)
    reconciler.run_once()
    cluster.job_failed = True
    reconciler.run_once()
    with pytest.raises(InvalidStateError, match="Only a successful backup"):
        stores.clone_store(alice, sid, failing.id, "shop-copy")
    assert [s.name for s in stores.list_stores(alice)].count("shop-copy") == 0, "nothing was created"


def test_without_backup_storage_nothing_is_cloned(
    db: Engine, settings: Settings, stores: StoreService, reconciler: Reconciler, alice: Actor
) -> None:
    sid = ready_store(stores, reconciler, alice)
    bare = StoreService(db, dataclasses.replace(settings, backup_s3_endpoint=""))
    with pytest.raises(NotConfiguredError, match="BACKUP_S3_ENDPOINT"):
        bare.clone_store(alice, sid, "0" * 32, "shop-copy")


def test_a_clone_whose_backup_was_deleted_meanwhile_fails_and_says_why(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
) -> None:
    sid = ready_store(stores, reconciler, alice)
    backup = take_backup(stores, reconciler, objects, alice, sid)
    clone = stores.clone_store(alice, sid, backup.id, "shop-copy")
    stores.delete_store(alice, sid)  # its backups go with it
    reconciler.run_once()
    cluster.finish_termination()
    for _ in range(4):
        reconciler.run_once()
    row = store_row(db, clone.id)
    assert row.status == StoreStatus.FAILED and "no longer exists" in row.message


def test_a_medusa_clone_gets_its_own_keys_and_runs_its_setup_again(
    db: Engine,
    stores: StoreService,
    reconciler: Reconciler,
    cluster: FakeCluster,
    objects: FakeObjectStore,
    alice: Actor,
) -> None:
    """Medusa's seed sets the clone's own publishable key and adds its admin: nothing is copied."""
    sid = ready_store(stores, reconciler, alice, "medusa-one", engine="medusa")
    backup = take_backup(stores, reconciler, objects, alice, sid)
    clone = stores.clone_store(alice, sid, backup.id, "medusa-copy", plan="small")
    assert (clone.engine, clone.plan) == ("medusa", "small")
    reconciler.run_once()
    ns = store_row(db, clone.id).namespace
    mine = cluster.objects[("Secret", ns, "store-credentials")]["stringData"]
    theirs = cluster.objects[("Secret", store_row(db, sid).namespace, "store-credentials")]["stringData"]
    assert not {k for k in mine if mine[k] == theirs[k]}, "every credential is the clone's own"
    cluster.calls.clear()
    for _ in range(4):
        reconciler.run_once()
    assert ("delete", "Job", ns, "store-setup") in cluster.calls
    row = store_row(db, clone.id)
    assert row.status == StoreStatus.READY and "a copy of the backup" in row.message
