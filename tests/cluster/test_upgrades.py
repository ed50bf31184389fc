"""Upgrades on the real control plane (kwok plays the kubelet) with a real S3 server: the
backup first, the new versions applied and the setup Job re-run as the upgrade step, a
worker replaced half-way, and a rollback when the upgrade step cannot run.

The failure is made by the API server itself: a ValidatingAdmissionPolicy refuses the new
setup image's pods in that store's namespace, so the upgrade step never runs, the store
is not ready within its budget, and the platform rolls back: the old versions re-applied
and the backup restored. As in tests/cluster/test_backups.py the test plays the transfer
containers' part (upload.sh, download.sh) with the URLs the platform signed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from sqlalchemy import update
from sqlmodel import Session, select

from provisioning.backups import manifests
from provisioning.backups.restore_steps import restore_run_id
from provisioning.models import Backup, BackupStatus, Store, StoreStatus, WorkerLease, utcnow
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.backups.servers import Versitygw
from tests.cluster.test_backups import passes_until, play, run_secret, s3_server  # noqa: F401 (fixture)
from tests.shared.platform import StorePlatform, status_is

pytestmark = pytest.mark.cluster

OLD_WORDPRESS, NEW_WORDPRESS = "wordpress:6.9.0-php8.3-apache", "wordpress:6.9.1-php8.3-apache"
OLD_CLI, NEW_CLI = "wordpress:cli-2.12.0-php8.3", "wordpress:cli-2.13.0-php8.3"


@pytest.fixture
def world(tmp_path: Path, control_plane: Any, s3_server: Versitygw) -> Iterator[StorePlatform]:  # noqa: F811
    platform = StorePlatform(
        tmp_path,
        None,
        control_plane.kubeconfig,
        provisioning_timeout_seconds=120,
        backup_s3_endpoint=s3_server.endpoint,
        backup_s3_bucket="upgrade-backups",
        backup_s3_access_key_id=s3_server.access_key,
        backup_s3_secret_access_key=s3_server.secret_key,
        wordpress_image=OLD_WORDPRESS,
        wpcli_image=OLD_CLI,
    )
    yield platform
    platform.cleanup()


def moved_pins(world: StorePlatform) -> Settings:
    return dataclasses.replace(
        world.settings, wordpress_image=NEW_WORDPRESS, wpcli_image=NEW_CLI, upgrade_timeout_seconds=60
    )


def upgrader(world: StorePlatform, settings: Settings, identity: str) -> Reconciler:
    return Reconciler(world.db, settings, lambda: world.kube, identity=identity)  # type: ignore[arg-type,return-value]


def image_of(world: StorePlatform, namespace: str, kind: str, name: str) -> str:
    assert world.kube is not None
    api = "batch/v1" if kind == "Job" else "apps/v1"
    obj = world.kube.get(api, kind, name, namespace=namespace)
    assert obj is not None, f"no {kind} {name}"
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def pre_upgrade_backup(world: StorePlatform, store_id: str) -> Backup | None:
    with Session(world.db) as session:
        return session.exec(select(Backup).where(Backup.store_id == store_id, Backup.kind == "pre_upgrade")).first()


def through_the_backup(world: StorePlatform, driver: Reconciler, store: Store, work: Path) -> None:
    """Passes until the pre-upgrade backup's Job exists, its upload played, then until applying."""
    running = passes_until(
        driver,
        lambda: (b := pre_upgrade_backup(world, store.id)) is not None and b.status == BackupStatus.RUNNING and b,
    )
    work.mkdir()
    (work / "database").write_bytes(b"-- MariaDB dump\n" * 64)
    (work / "files.tar.gz").write_bytes(b"\x1f\x8b" + b"\0" * 100)
    play("upload.sh", work, run_secret(world, store.namespace, manifests.job_name("backup", running.id)))
    passes_until(driver, lambda: world.store(store.id).upgrade_phase == "applying")


def test_an_upgrade_applies_the_new_versions_and_survives_a_worker_replaced_half_way(
    world: StorePlatform, tmp_path: Path
) -> None:
    store = world.create("upgraded")
    world.drive(store.id, status_is(StoreStatus.READY))
    ns = store.namespace
    moved = moved_pins(world)
    service = StoreService(world.db, moved)
    assert [o.name for o in service.outdated_stores(world.admin)] == [store.name]
    service.upgrade_store(world.admin, store.id)

    first = upgrader(world, moved, "upgrader-1")
    through_the_backup(world, first, store, tmp_path / "job")
    assert image_of(world, ns, "Deployment", "wordpress") == OLD_WORDPRESS, "nothing changed before the backup"

    # The first worker dies; its lease runs out; another one carries on from the row.
    with Session(world.db) as session:
        session.execute(update(WorkerLease).values(expires_at=utcnow()))
        session.commit()
    second = upgrader(world, moved, "upgrader-2")
    passes_until(second, lambda: world.store(store.id).upgrade_phase == "verifying")
    assert image_of(world, ns, "Deployment", "wordpress") == NEW_WORDPRESS
    assert image_of(world, ns, "Job", "store-setup") == NEW_CLI, "the setup Job re-runs as the upgrade step"
    done = passes_until(second, lambda: (s := world.store(store.id)).status == StoreStatus.READY and s)
    assert done.versions["wordpress"] == NEW_WORDPRESS and done.upgrade_phase == ""
    assert world.actions(store.id)[-1] == "store.upgraded"
    assert service.outdated_stores(world.admin) == []


def test_an_upgrade_whose_step_cannot_run_rolls_back_to_the_old_versions_and_the_backup(
    world: StorePlatform, tmp_path: Path
) -> None:
    kube = world.kube
    assert kube is not None
    store = world.create("rollback")
    world.drive(store.id, status_is(StoreStatus.READY))
    ns = store.namespace
    name = f"deny-new-setup-{store.id[:8]}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
                ]
            },
            "validations": [
                {
                    "expression": f"!object.spec.containers.exists(c, c.image == '{NEW_CLI}')",
                    "message": "test: the new setup image is refused here",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
        },
    }
    admission = client.AdmissionregistrationV1Api(kube_config.new_client_from_config(str(world.kubeconfig)))
    admission.create_validating_admission_policy(body=policy)
    admission.create_validating_admission_policy_binding(body=binding)
    try:
        moved = moved_pins(world)
        StoreService(world.db, moved).upgrade_store(world.admin, store.id)
        driver = upgrader(world, moved, "upgrader-rollback")
        through_the_backup(world, driver, store, tmp_path / "job")
        passes_until(driver, lambda: world.store(store.id).upgrade_phase == "verifying")
        rolling = passes_until(
            driver, lambda: (s := world.store(store.id)).status == StoreStatus.RESTORING and s, timeout=150
        )
        assert (
            rolling.upgrade_phase == "rolling_back" and "Not ready 1 minute after the new versions" in rolling.message
        )
        assert rolling.versions["wordpress"] == OLD_WORDPRESS
        assert image_of(world, ns, "Deployment", "wordpress") == OLD_WORDPRESS, "the old versions are re-applied"

        importing = passes_until(driver, lambda: (s := world.store(store.id)).restore_phase == "importing" and s)
        fetched = tmp_path / "restore"
        fetched.mkdir()
        play("download.sh", fetched, run_secret(world, ns, manifests.job_name("restore", restore_run_id(importing))))
        assert (fetched / "database").read_bytes() == b"-- MariaDB dump\n" * 64
        done = passes_until(driver, lambda: (s := world.store(store.id)).status == StoreStatus.READY and s, timeout=120)
        assert done.message.startswith("Ready on the previous versions") and done.upgrade_phase == ""
        actions = world.actions(store.id)
        assert "store.upgrade_failed" in actions and actions[-1] == "store.upgrade_rolled_back"
    finally:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)
