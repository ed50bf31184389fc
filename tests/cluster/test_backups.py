"""Backups and restore on the real control plane (kwok plays the kubelet) with a real S3
server (versitygw): the API server admits the Jobs, Secrets, ConfigMap and policies the
reconciler renders; the presigned URLs it puts in the run's Secret are accepted by the
object store for exactly their objects; status, retention and listing follow.

No container runs on kwok's nodes, so the test plays the Job's transfer step itself with
the real scripts (upload.sh, download.sh) and the URLs read back from the cluster: what a
container would do with them. The scripts' dump and import against real databases are
tests/backups/test_scripts_real_servers.py.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.backups import manifests
from provisioning.backups.restore_steps import restore_run_id
from provisioning.backups.s3 import S3Client
from provisioning.models import BackupStatus, StoreStatus
from provisioning.reconciler import Reconciler
from tests.backups.servers import Versitygw, build_versitygw
from tests.shared.platform import StorePlatform, status_is
from tests.shared.portal import unique
from tests.shared.report import record_component
from tests.shared.waiting import wait_for
from tests.store_software.conftest import _component

pytestmark = pytest.mark.cluster

SCRIPTS = Path(manifests.SCRIPTS_DIR)


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Versitygw]:
    log = tmp_path_factory.mktemp("versitygw-build") / "build.log"
    server = Versitygw.start(_component(lambda: build_versitygw(log)))
    record_component(pytestconfig, "Object store", f"versitygw {server.version}")
    yield server
    server.stop()


@pytest.fixture
def world(tmp_path: Path, control_plane: Any, s3_server: Versitygw) -> Iterator[StorePlatform]:
    platform = StorePlatform(
        tmp_path,
        None,
        control_plane.kubeconfig,
        provisioning_timeout_seconds=120,
        backup_s3_endpoint=s3_server.endpoint,
        backup_s3_bucket="cluster-backups",
        backup_s3_access_key_id=s3_server.access_key,
        backup_s3_secret_access_key=s3_server.secret_key,
        backup_retention=1,
    )
    yield platform
    platform.cleanup()


def bucket(world: StorePlatform) -> S3Client:
    from provisioning.backups.storage import client_for

    return client_for(world.settings)


def run_secret(world: StorePlatform, namespace: str, name: str) -> dict[str, str]:
    assert world.kube is not None
    secret = world.kube.get("v1", "Secret", name, namespace=namespace)
    assert secret is not None, f"no Secret {name}"
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def play(script: str, work: Path, urls: dict[str, str]) -> str:
    """Run one of the Job's transfer scripts as its container would (env only)."""
    env = {"PATH": os.environ["PATH"], "WORK_DIR": str(work), **urls}
    result = subprocess.run(["sh", str(SCRIPTS / script)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def passes_until(driver: Reconciler, reached: Any, *, timeout: float = 90) -> Any:
    def step() -> Any:
        driver.run_once()
        return reached()

    return wait_for(step, timeout=timeout, interval=0.3, what="the backup state")


def test_backup_retention_and_restore_with_real_jobs_urls_and_object_store(
    world: StorePlatform, tmp_path: Path
) -> None:
    kube = world.kube
    assert kube is not None
    store = world.create("saved")
    world.drive(store.id, status_is(StoreStatus.READY))
    ns = store.namespace
    driver = world.make_reconciler("backup-driver", fresh_client=False)

    def backup_of(backup_id: str) -> Any:
        return next(b for b in world.stores.list_backups(world.alice, store.id) if b.id == backup_id)

    first = world.stores.backup_store(world.alice, store.id)
    running = passes_until(driver, lambda: (b := backup_of(first.id)).status == BackupStatus.RUNNING and b)
    name = manifests.job_name("backup", first.id)
    job = kube.get("batch/v1", "Job", name, namespace=ns)
    assert job is not None, "the API server admitted the backup Job"
    for kind, obj in (("ConfigMap", "backup-scripts"), ("NetworkPolicy", "allow-backup-egress")):
        api = "v1" if kind == "ConfigMap" else "networking.k8s.io/v1"
        assert kube.get(api, kind, obj, namespace=ns) is not None, kind
    # Its pod passed admission (Pod Security restricted, quota, limits) and was scheduled.
    pods = wait_for(
        lambda: kube.list("v1", "Pod", namespace=ns, label_selector=f"job-name={name}"), timeout=60, what="its pod"
    )
    assert pods[0]["spec"]["securityContext"]["runAsNonRoot"] is True

    # The container's part, with the URLs the reconciler signed: they work for their objects.
    work = tmp_path / "job"
    work.mkdir()
    (work / "database").write_bytes(os.urandom(4096))
    (work / "files.tar.gz").write_bytes(os.urandom(1000))
    urls = run_secret(world, ns, name)
    assert world.settings.backup_s3_secret_access_key not in str(urls)
    assert play("upload.sh", work, urls).splitlines()[-1].startswith("uploaded backup: database 4.0 KB")
    done = passes_until(driver, lambda: (b := backup_of(first.id)).status != BackupStatus.RUNNING and b)
    assert done.status == BackupStatus.SUCCEEDED, done.message
    assert done.size_bytes == 5096
    assert kube.get("batch/v1", "Job", name, namespace=ns) is None, "the finished Job is deleted"
    # ...and the garbage collector deletes the URLs' Secret it owned.
    wait_for(lambda: kube.get("v1", "Secret", name, namespace=ns) is None, timeout=60, what="the URLs' Secret gone")
    objects = {o.key for o in bucket(world).list(f"stores/{store.id}/")}
    assert objects == {f"{running.location}/{n}" for n in ("database", "files.tar.gz", "manifest.json")}

    # A second backup: retention (1) deletes the first from the bucket and the list.
    second = world.stores.backup_store(world.alice, store.id)
    passes_until(driver, lambda: backup_of(second.id).status == BackupStatus.RUNNING)
    second_name = manifests.job_name("backup", second.id)
    play("upload.sh", work, run_secret(world, ns, second_name))
    passes_until(driver, lambda: backup_of(second.id).status == BackupStatus.SUCCEEDED)
    assert [b.id for b in world.stores.list_backups(world.alice, store.id)] == [second.id]
    assert not [o for o in bucket(world).list(f"stores/{store.id}/") if first.id in o.key]

    # Restore: storefront off, database kept, the Job's download verified, then ready again.
    world.stores.restore_backup(world.alice, store.id, second.id)
    row = passes_until(driver, lambda: (s := world.store(store.id)).restore_phase == "importing" and s)
    assert kube.get("apps/v1", "Deployment", "wordpress", namespace=ns)["spec"]["replicas"] == 0  # type: ignore[index]
    assert kube.get("apps/v1", "StatefulSet", "mariadb", namespace=ns)["spec"]["replicas"] == 1  # type: ignore[index]
    assert kube.get("networking.k8s.io/v1", "Ingress", "store", namespace=ns) is None
    restore_name = manifests.job_name("restore", restore_run_id(row))
    fetched = tmp_path / "restore"
    fetched.mkdir()
    play("download.sh", fetched, run_secret(world, ns, restore_name))
    assert (fetched / "database").read_bytes() == (work / "database").read_bytes()
    restored = world.drive(store.id, status_is(StoreStatus.READY))
    assert "restored from the backup" in restored.message
    assert kube.get("networking.k8s.io/v1", "Ingress", "store", namespace=ns) is not None
    assert world.actions(store.id)[-2:] == ["store.restore_requested", "store.restored"]


def test_a_medusa_store_is_backed_up_and_restored_with_its_own_database_image(
    world: StorePlatform, tmp_path: Path
) -> None:
    kube = world.kube
    assert kube is not None
    store = world.stores.create_store(world.alice, unique("medusa-saved"), engine="medusa")
    world.created.append(store)
    world.drive(store.id, status_is(StoreStatus.READY), timeout=150)
    ns = store.namespace
    driver = world.make_reconciler("medusa-backup-driver", fresh_client=False)

    backup = world.stores.backup_store(world.alice, store.id)
    passes_until(driver, lambda: world.stores.list_backups(world.alice, store.id)[0].status == BackupStatus.RUNNING)
    name = manifests.job_name("backup", backup.id)
    pods = wait_for(
        lambda: kube.list("v1", "Pod", namespace=ns, label_selector=f"job-name={name}"), timeout=60, what="its pod"
    )
    dump = pods[0]["spec"]["initContainers"][0]
    assert dump["image"] == world.settings.postgres_image
    assert {e["name"] for e in dump["env"]} >= {"PGHOST", "PGDATABASE", "PGUSER", "PGPASSWORD", "FILES_DIR"}
    work = tmp_path / "job"
    work.mkdir()
    (work / "database").write_bytes(b"PGDMP" + os.urandom(100))
    (work / "files.tar.gz").write_bytes(os.urandom(10))
    play("upload.sh", work, run_secret(world, ns, name))
    done = passes_until(driver, lambda: (b := world.stores.list_backups(world.alice, store.id)[0]).finished_at and b)
    assert (done.status, done.size_bytes) == (BackupStatus.SUCCEEDED, 115), done.message

    world.stores.restore_backup(world.alice, store.id, backup.id)
    passes_until(driver, lambda: world.store(store.id).restore_phase == "importing")
    # The storefront and its queue (Redis holds only what Medusa rebuilds) stop; PostgreSQL runs.
    for deployment in ("medusa-server", "medusa-worker", "redis"):
        assert kube.get("apps/v1", "Deployment", deployment, namespace=ns)["spec"]["replicas"] == 0  # type: ignore[index]
    assert kube.get("apps/v1", "StatefulSet", "postgres", namespace=ns)["spec"]["replicas"] == 1  # type: ignore[index]
    assert world.drive(store.id, status_is(StoreStatus.READY), timeout=150).restore_phase == ""


def test_a_woocommerce_store_is_cloned_from_a_backup_into_a_new_store(world: StorePlatform, tmp_path: Path) -> None:
    """Provisioned, then the source's backup imported in the clone's own namespace (the
    URLs fetch the source's objects), then its setup Job re-run to adopt the copy."""
    kube = world.kube
    assert kube is not None
    source = world.create("origin")
    world.drive(source.id, status_is(StoreStatus.READY))
    driver = world.make_reconciler("clone-driver", fresh_client=False)
    backup = world.stores.backup_store(world.alice, source.id)
    passes_until(driver, lambda: world.stores.list_backups(world.alice, source.id)[0].status == BackupStatus.RUNNING)
    work = tmp_path / "job"
    work.mkdir()
    (work / "database").write_bytes(os.urandom(2048))
    (work / "files.tar.gz").write_bytes(os.urandom(300))
    play("upload.sh", work, run_secret(world, source.namespace, manifests.job_name("backup", backup.id)))
    passes_until(driver, lambda: world.stores.list_backups(world.alice, source.id)[0].status == BackupStatus.SUCCEEDED)

    clone = world.stores.clone_store(world.alice, source.id, backup.id, unique("copy"))
    world.created.append(clone)
    row = world.drive(clone.id, lambda s: s.restore_phase == "importing", timeout=150)
    ns = row.namespace
    assert ns != source.namespace
    setup_uid = kube.get("batch/v1", "Job", "store-setup", namespace=ns)["metadata"]["uid"]  # type: ignore[index]
    fetched = tmp_path / "clone"
    fetched.mkdir()
    play("download.sh", fetched, run_secret(world, ns, manifests.job_name("restore", restore_run_id(row))))
    assert (fetched / "database").read_bytes() == (work / "database").read_bytes(), "the source's data"

    ready = world.drive(clone.id, status_is(StoreStatus.READY), timeout=150)
    assert "a copy of the backup" in ready.message and ready.ready_at is not None
    rerun = kube.get("batch/v1", "Job", "store-setup", namespace=ns)
    assert rerun is not None and rerun["metadata"]["uid"] != setup_uid, "setup ran again to adopt the copy"
    key = "wordpress-admin-password"
    assert (
        run_secret(world, ns, "store-credentials")[key] == run_secret(world, source.namespace, "store-credentials")[key]
    )
    assert kube.get("networking.k8s.io/v1", "Ingress", "store", namespace=ns) is not None
    assert world.actions(clone.id)[-1] == "store.ready"
    assert world.store(source.id).status == StoreStatus.READY
