"""The worker process SIGKILLed mid-provisioning and mid-deletion, then restarted.

Real `python -m provisioning.worker` processes on PostgreSQL and the real control plane.
A SIGKILL releases nothing: the replacement waits for the dead worker's database lease to
expire (TTL max(15 s, 5 x interval)), then carries on from the rows and the cluster. The
measured takeover times are printed (run with -s) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.engines.base import SECRET_NAME
from provisioning.models import Store, StoreStatus
from tests.reliability.support import StorePlatform, WorkerProcess, wait_until, worker_env
from tests.shared.inventory import WOOCOMMERCE_OBJECTS

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

# What a ready WooCommerce store is, object by object: one of each, two of NetworkPolicy
# pairs... A duplicate (a second ReplicaSet from a changed template, a second Job pod from
# a re-created Job) or a missing object shows up as a different count.
READY_INVENTORY = WOOCOMMERCE_OBJECTS | {"ReplicaSet": 1, "Pod/web": 1, "Pod/database": 1, "Pod/setup": 1}


@pytest.fixture
def workers(pg_platform: StorePlatform, tmp_path: Path, control_plane: Any) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop(timeout=15)


def start_worker(
    started: list[WorkerProcess], platform: StorePlatform, tmp_path: Path, kubeconfig: Path
) -> WorkerProcess:
    env = worker_env(platform.settings.database_url, kubeconfig, tmp_path)
    worker = WorkerProcess(env, tmp_path / f"worker-{len(started) + 1}.log").start()
    started.append(worker)
    return worker


def takeover(platform: StorePlatform, worker: WorkerProcess, killed_at: float) -> float:
    """Seconds from the SIGKILL until `worker` holds the lease."""

    def holds() -> bool:
        lease = platform.lease()
        assert worker.alive(), f"worker exited:\n{worker.text()[-3000:]}"
        return lease is not None and worker.holds(lease[0])

    wait_until(holds, timeout=60, interval=0.1, what="the new worker to take the lease")
    return time.monotonic() - killed_at


def assert_ready_and_whole(platform: StorePlatform, store: Store) -> None:
    final = platform.store(store.id)
    assert final.status == StoreStatus.READY, final.message
    *objects, shopper = final.conditions
    assert all(c["status"] == "True" for c in objects), final.conditions
    assert shopper["reason"] == "NotVerifiable", "kwok runs no container: never a pass that was not seen"
    assert final.next_attempt_at is None
    assert platform.namespaces_of(store.id) == [store.namespace]
    inventory = platform.inventory(store.namespace)
    assert {k: inventory[k] for k in READY_INVENTORY} == READY_INVENTORY, inventory
    assert platform.kube is not None
    for api_version, kind, name in (("apps/v1", "Deployment", "wordpress"), ("apps/v1", "StatefulSet", "mariadb")):
        obj = platform.kube.get(api_version, kind, name, namespace=store.namespace)
        assert obj is not None and obj["metadata"]["generation"] == 1, f"{kind} re-applied with changes"


def test_worker_killed_mid_provisioning_resumes_without_duplicates(
    pg_platform: StorePlatform, workers: list[WorkerProcess], tmp_path: Path, control_plane: Any
) -> None:
    platform = pg_platform
    first = start_worker(workers, platform, tmp_path, control_plane.kubeconfig)
    # The scheduler is held so that the store is caught mid-provisioning deterministically:
    # manifests applied, namespace ready, pods not yet scheduled.
    control_plane.pause("kube-scheduler")
    paused = True
    try:
        store = platform.create("crash")

        def mid_provisioning() -> Store | None:
            current = platform.store(store.id)
            started = current.status == StoreStatus.PROVISIONING and current.applied_at is not None
            partly = any(c["status"] == "True" for c in current.conditions or [])
            return current if started and partly else None

        caught = wait_until(mid_provisioning, timeout=90, what="the store to be mid-provisioning")
        assert not all(c["status"] == "True" for c in caught.conditions)
        secret_before = platform.secret_data(store.namespace)
        lease = platform.lease()
        assert lease is not None and first.holds(lease[0])

        first.kill()
        killed_at = time.monotonic()
        control_plane.resume("kube-scheduler")
        paused = False
        second = start_worker(workers, platform, tmp_path, control_plane.kubeconfig)
        taken = takeover(platform, second, killed_at)
        platform.wait_status(store.id, StoreStatus.READY, StoreStatus.FAILED, what="provisioning under the new worker")
        ready_after = time.monotonic() - killed_at
    finally:
        if paused:
            control_plane.resume("kube-scheduler")

    assert_ready_and_whole(platform, store)
    assert platform.secret_data(store.namespace) == secret_before, "the credentials Secret was rotated"
    assert platform.actions(store.id) == ["store.create", "store.provisioning", "store.ready"]
    assert "store.ready" not in first.text()
    assert "store.ready" in second.text()
    print(f"\nSIGKILL mid-provisioning: lease taken over after {taken:.1f}s, ready {ready_after:.1f}s after the kill")
    assert 10 <= taken <= 30, f"takeover after {taken:.1f}s (lease TTL is 15 s)"


def test_worker_killed_mid_deletion_finishes_the_deletion(
    pg_platform: StorePlatform, workers: list[WorkerProcess], tmp_path: Path, control_plane: Any
) -> None:
    platform = pg_platform
    assert platform.kube is not None
    first = start_worker(workers, platform, tmp_path, control_plane.kubeconfig)
    store = platform.create("crashdel")
    platform.wait_status(store.id, StoreStatus.READY)
    volumes = platform.volumes_of(store.namespace)
    # Hold the namespace in Terminating (a finalizer on an object in it) so the kill lands
    # mid-deletion and the new worker finds the deletion still in progress.
    platform.hold_namespace(store.namespace)
    platform.stores.delete_store(platform.alice, store.id)

    def terminating() -> bool:
        namespace = platform.kube.get("v1", "Namespace", store.namespace) if platform.kube else None
        return namespace is not None and namespace["status"].get("phase") == "Terminating"

    wait_until(terminating, timeout=60, interval=0.1, what="the worker to delete the namespace")
    first.kill()
    killed_at = time.monotonic()
    assert platform.store(store.id).status == StoreStatus.DELETING

    second = start_worker(workers, platform, tmp_path, control_plane.kubeconfig)
    taken = takeover(platform, second, killed_at)
    wait_until(
        lambda: "waiting for namespace" in platform.store(store.id).message and second.alive(),
        timeout=30,
        what="the new worker to report the deletion in progress",
    )
    assert platform.store(store.id).status == StoreStatus.DELETING
    platform.release_namespace(store.namespace)
    platform.wait_status(store.id, StoreStatus.DELETED, what="the deletion to finish under the new worker")
    deleted_after = time.monotonic() - killed_at

    final = platform.store(store.id)
    assert final.deleted_at is not None and final.active_name is None
    assert platform.kube.get("v1", "Namespace", store.namespace) is None
    assert platform.namespaces_of(store.id) == []
    assert platform.kube.get("v1", "Secret", SECRET_NAME, namespace=store.namespace) is None
    assert platform.actions(store.id) == [
        "store.create",
        "store.provisioning",
        "store.ready",
        "store.delete",
        "store.deleted",
    ]
    assert "store.deleted" in second.text() and "store.deleted" not in first.text()

    platform.volumes_released(volumes, timeout=60)
    print(f"\nSIGKILL mid-deletion: lease taken over after {taken:.1f}s, deleted {deleted_after:.1f}s after the kill")
    assert 10 <= taken <= 30, f"takeover after {taken:.1f}s (lease TTL is 15 s)"
