"""Versions and upgrades through the service and the reconciler on the in-memory fakes:
recorded versions, which stores are outdated, the backup first, applying and verifying,
and every way back (failed upgrade step, timeout, failed backup, a killed worker)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from provisioning.actors import Actor
from provisioning.catalog import versions
from provisioning.engines import get_engine
from provisioning.errors import InvalidStateError, NotConfiguredError, PermissionDeniedError
from provisioning.lifecycle.decisions import spec_for
from provisioning.models import Backup, StoreStatus
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import Clock, FakeCluster, FakeObjectStore
from tests.shared.platform import audit_actions, store_row

OLD_WORDPRESS = "wordpress:6.8.1-php8.3-apache"
NEW_WORDPRESS = "wordpress:6.9.0-php8.3-apache"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        backup_s3_endpoint="http://objects.test:9000",
        backup_s3_access_key_id="AKIDTEST",
        backup_s3_secret_access_key="secret",
        wordpress_image=OLD_WORDPRESS,
        woocommerce_version="10.2.0",
    )


@pytest.fixture
def moved(settings: Settings) -> Settings:
    """The platform after its pins moved: a newer WordPress and WooCommerce."""
    return dataclasses.replace(settings, wordpress_image=NEW_WORDPRESS, woocommerce_version="10.3.0")


@pytest.fixture
def cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.make_all_ready()
    return cluster


@pytest.fixture
def objects() -> FakeObjectStore:
    return FakeObjectStore()


def reconciler_for(
    db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, objects: FakeObjectStore
) -> Reconciler:
    reconciler = Reconciler(db, settings, lambda: cluster, identity="r1", clock=clock)
    reconciler._s3 = objects  # type: ignore[assignment]
    return reconciler


def ready_store(db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, actor: Actor, name: str) -> str:
    store = StoreService(db, settings).create_store(actor, name)
    Reconciler(db, settings, lambda: cluster, identity="r1", clock=clock).run_once()
    assert store_row(db, store.id).status == StoreStatus.READY
    return store.id


def web_image(cluster: FakeCluster, namespace: str) -> str:
    pod = cluster.objects[("Deployment", namespace, "wordpress")]["spec"]["template"]["spec"]
    return str(pod["containers"][0]["image"])


def pass_backup(reconciler: Reconciler, db: Engine, objects: FakeObjectStore, store_id: str) -> None:
    """Run passes through the pre-upgrade backup, playing its Job's upload once the Job exists.

    How many passes each move takes depends on thread timing (store and backup steps run
    side by side), so wait for states, never count passes."""

    def backup() -> Backup | None:
        with Session(db) as session:
            return session.exec(select(Backup).where(Backup.store_id == store_id)).first()

    for _ in range(5):
        reconciler.run_once()
        taken = backup()
        if taken is not None and taken.status == "running":
            break
    else:
        raise AssertionError(f"no backup Job: {store_row(db, store_id).message}")
    assert taken.kind == "pre_upgrade" and taken.location
    objects.upload_backup(taken.location)
    for _ in range(3):
        reconciler.run_once()
        if store_row(db, store_id).upgrade_phase == "applying":
            return
    raise AssertionError(f"stuck: {store_row(db, store_id).message}")


def test_versions_are_recorded_and_rendered_from_the_record_not_todays_pins(
    db: Engine, settings: Settings, moved: Settings, cluster: FakeCluster, clock: Clock, alice: Actor, admin: Actor
) -> None:
    sid = ready_store(db, settings, cluster, clock, alice, "shop-one")
    row = store_row(db, sid)
    assert row.versions == versions.pinned(settings, "woocommerce")
    assert StoreService(db, settings).outdated_stores(admin) == []

    # The pins move: nothing changes for the running store, but it is listed as outdated.
    manifests = get_engine("woocommerce").workloads(spec_for(row, "alice", moved), moved)
    web = next(m for m in manifests if m["kind"] == "Deployment")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == OLD_WORDPRESS
    outdated = StoreService(db, moved).outdated_stores(admin)
    assert [(o.name, o.changes) for o in outdated] == [
        ("shop-one", {"wordpress": (OLD_WORDPRESS, NEW_WORDPRESS), "woocommerce": ("10.2.0", "10.3.0")})
    ]
    assert "wordpress wordpress:6.8.1-php8.3-apache → wordpress:6.9.0-php8.3-apache" in outdated[0].summary
    with pytest.raises(PermissionDeniedError):
        StoreService(db, moved).outdated_stores(alice)


def test_an_upgrade_backs_up_applies_runs_the_upgrade_step_and_verifies(
    db: Engine,
    settings: Settings,
    moved: Settings,
    cluster: FakeCluster,
    clock: Clock,
    objects: FakeObjectStore,
    alice: Actor,
    admin: Actor,
) -> None:
    sid = ready_store(db, settings, cluster, clock, alice, "shop-one")
    ns = store_row(db, sid).namespace
    stores, reconciler = StoreService(db, moved), reconciler_for(db, moved, cluster, clock, objects)
    with pytest.raises(PermissionDeniedError):
        stores.upgrade_store(alice, sid)
    queued = stores.upgrade_store(admin, sid)
    assert (queued.status, queued.upgrade_phase) == (StoreStatus.UPGRADING, "queued")
    with pytest.raises(InvalidStateError, match="already being upgraded"):
        stores.upgrade_store(admin, sid)

    pass_backup(reconciler, db, objects, sid)
    assert store_row(db, sid).upgrade_phase == "applying"
    assert web_image(cluster, ns) == OLD_WORDPRESS, "nothing applied before the backup succeeded"
    reconciler.run_once()  # applying: the new versions, the setup Job run again
    row = store_row(db, sid)
    assert row.upgrade_phase == "verifying" and row.versions["wordpress"] == NEW_WORDPRESS
    assert web_image(cluster, ns) == NEW_WORDPRESS
    assert ("delete", "Job", ns, "store-setup") in cluster.calls, "the upgrade step (setup Job) runs again"
    setup = cluster.objects[("Job", ns, "store-setup")]["spec"]["template"]["spec"]["containers"][0]
    assert "--version=10.3.0" in setup["command"][-1] and "wp core update-db" in setup["command"][-1]

    reconciler.run_once()  # verifying: every check, then the shopper path
    row = store_row(db, sid)
    assert row.status == StoreStatus.READY and row.upgrade_phase == ""
    assert row.versions == versions.pinned(moved, "woocommerce")
    assert StoreService(db, moved).outdated_stores(admin) == []
    actions = audit_actions(db, sid)
    assert actions[-1] == "store.upgraded" and "store.upgrade_requested" in actions
    with pytest.raises(InvalidStateError, match="already runs the current versions"):
        stores.upgrade_store(admin, sid)


def test_a_failed_upgrade_step_rolls_back_to_the_old_versions_and_the_backup(
    db: Engine,
    settings: Settings,
    moved: Settings,
    cluster: FakeCluster,
    clock: Clock,
    objects: FakeObjectStore,
    alice: Actor,
    admin: Actor,
) -> None:
    sid = ready_store(db, settings, cluster, clock, alice, "shop-one")
    ns = store_row(db, sid).namespace
    stores, reconciler = StoreService(db, moved), reconciler_for(db, moved, cluster, clock, objects)
    stores.upgrade_store(admin, sid)
    pass_backup(reconciler, db, objects, sid)
    reconciler.run_once()  # applied
    cluster.job_failed = True  # the upgrade step (setup Job) fails
    reconciler.run_once()
    row = store_row(db, sid)
    assert (row.status, row.upgrade_phase) == (StoreStatus.RESTORING, "rolling_back")
    assert row.versions["wordpress"] == OLD_WORDPRESS and "Upgrade failed: The upgrade step failed" in row.message
    assert web_image(cluster, ns) == OLD_WORDPRESS, "the old versions are re-applied"
    assert row.restore_backup_id == row.upgrade_backup_id
    assert ("Job", ns, "store-setup") not in cluster.objects, "the failed upgrade step is removed"

    cluster.job_failed = False
    for _ in range(3):  # stopping, importing, starting
        reconciler.run_once()
    row = store_row(db, sid)
    assert row.status == StoreStatus.READY and row.upgrade_phase == ""
    assert row.message.startswith("Ready on the previous versions") and "failed" in row.message
    assert row.versions == versions.pinned(settings, "woocommerce")
    setup = cluster.objects[("Job", ns, "store-setup")]["spec"]["template"]["spec"]["containers"][0]
    assert "--version=10.2.0" in setup["command"][-1], "set up again from the old versions, after the restore"
    actions = audit_actions(db, sid)
    assert "store.upgrade_failed" in actions and actions[-1] == "store.upgrade_rolled_back"
    assert [o.name for o in StoreService(db, moved).outdated_stores(admin)] == ["shop-one"], "still to upgrade"


def test_an_upgrade_not_ready_within_its_budget_rolls_back(
    db: Engine,
    settings: Settings,
    moved: Settings,
    cluster: FakeCluster,
    clock: Clock,
    objects: FakeObjectStore,
    alice: Actor,
    admin: Actor,
) -> None:
    sid = ready_store(db, settings, cluster, clock, alice, "shop-one")
    stores, reconciler = StoreService(db, moved), reconciler_for(db, moved, cluster, clock, objects)
    stores.upgrade_store(admin, sid)
    pass_backup(reconciler, db, objects, sid)
    reconciler.run_once()  # applied
    cluster.ready_kinds.discard("Deployment")  # the new web server never becomes available
    reconciler.run_once()
    assert store_row(db, sid).status == StoreStatus.UPGRADING
    clock.advance(moved.upgrade_timeout_seconds + 1)
    reconciler.run_once()
    row = store_row(db, sid)
    assert row.status == StoreStatus.RESTORING and "Not ready 15 minutes after the new versions" in row.message


def test_a_failed_backup_means_the_upgrade_never_starts(
    db: Engine,
    settings: Settings,
    moved: Settings,
    cluster: FakeCluster,
    clock: Clock,
    objects: FakeObjectStore,
    alice: Actor,
    admin: Actor,
) -> None:
    sid = ready_store(db, settings, cluster, clock, alice, "shop-one")
    ns = store_row(db, sid).namespace
    stores, reconciler = StoreService(db, moved), reconciler_for(db, moved, cluster, clock, objects)
    stores.upgrade_store(admin, sid)
    for _ in range(3):
        reconciler.run_once()
    cluster.job_failed = True  # the backup Job fails
    reconciler.run_once()
    reconciler.run_once()
    row = store_row(db, sid)
    assert row.status == StoreStatus.READY and "The upgrade did not start" in row.message
    assert row.versions["wordpress"] == OLD_WORDPRESS and web_image(cluster, ns) == OLD_WORDPRESS
    assert audit_actions(db, sid)[-1] == "store.upgrade_failed"


def test_upgrade_all_runs_at_a_bounded_pace(
    db: Engine,
    settings: Settings,
    moved: Settings,
    cluster: FakeCluster,
    clock: Clock,
    objects: FakeObjectStore,
    alice: Actor,
    admin: Actor,
) -> None:
    ids = [ready_store(db, settings, cluster, clock, alice, name) for name in ("shop-one", "shop-two", "shop-three")]
    one_at_a_time = dataclasses.replace(moved, max_concurrent_upgrades=1)
    queued = StoreService(db, one_at_a_time).upgrade_all(admin)
    assert sorted(queued) == ["shop-one", "shop-three", "shop-two"]
    reconciler = reconciler_for(db, one_at_a_time, cluster, clock, objects)
    reconciler.run_once()
    phases = sorted(store_row(db, sid).upgrade_phase for sid in ids)
    assert phases == ["backup", "queued", "queued"]
    assert any("this one follows" in store_row(db, sid).message for sid in ids)


def test_upgrades_need_backup_storage(
    db: Engine, settings: Settings, moved: Settings, cluster: FakeCluster, clock: Clock, alice: Actor, admin: Actor
) -> None:
    sid = ready_store(db, settings, cluster, clock, alice, "shop-one")
    bare = dataclasses.replace(moved, backup_s3_endpoint="")
    with pytest.raises(NotConfiguredError, match="backup first"):
        StoreService(db, bare).upgrade_store(admin, sid)
    with pytest.raises(NotConfiguredError):
        StoreService(db, bare).upgrade_all(admin)


def test_a_worker_killed_after_applying_is_continued_without_harm(
    db: Engine,
    settings: Settings,
    moved: Settings,
    cluster: FakeCluster,
    clock: Clock,
    objects: FakeObjectStore,
    alice: Actor,
    admin: Actor,
) -> None:
    sid = ready_store(db, settings, cluster, clock, alice, "shop-one")
    stores, reconciler = StoreService(db, moved), reconciler_for(db, moved, cluster, clock, objects)
    stores.upgrade_store(admin, sid)
    pass_backup(reconciler, db, objects, sid)
    reconciler._upgrade_step(sid)  # the cluster changed, then the worker died before saving
    assert store_row(db, sid).upgrade_phase == "applying"
    reconciler.run_once()  # the next pass applies again (idempotent) and saves
    reconciler.run_once()
    assert store_row(db, sid).status == StoreStatus.READY
