"""The readiness cache against the real API server (kwok plays the kubelets).

What only a real server shows: the watch stream's framing and bookmarks, the label and
field selectors the informers use, a Deployment's status moving through its rollout as
the controllers write it, a delete followed by a create of the same name, and a relist.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from provisioning.engines.base import LABEL_MANAGED_BY, MANAGED_BY, Check
from provisioning.kube import KubeCluster
from provisioning.watch.cached_cluster import CachedCluster
from tests.harness.kube import unique_name, wait_for
from tests.shared.platform import store_cluster

pytestmark = pytest.mark.cluster

LABELS = {LABEL_MANAGED_BY: MANAGED_BY}
WEB = Check("AppReady", "Deployment", "web", "Web")
SETUP = Check("StoreInstalled", "Job", "setup", "Setup")


def deployment(
    namespace: str, *, replicas: int = 1, image: str = "registry.invalid/web:1", paused: bool = False
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": LABELS},
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", **LABELS}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def job(namespace: str, command: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "setup", "namespace": namespace, "labels": LABELS},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "setup", "image": "registry.invalid/setup:1", "command": [command]}],
                },
            },
        },
    }


def usable_namespace(cluster: CachedCluster, namespace: str) -> None:
    """Create a store-labelled namespace and wait (on the watch) for its default ServiceAccount."""
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": LABELS}})
    wait_for(lambda: cluster.informers["ServiceAccount"].get(namespace, "default"), timeout=30, what="account")


@pytest.fixture
def kube(control_plane: Any) -> KubeCluster:
    return store_cluster(control_plane.kubeconfig)


@pytest.fixture
def cached(kube: KubeCluster) -> Iterator[tuple[CachedCluster, list[float]]]:
    woken: list[float] = []
    cluster = CachedCluster(kube, on_change=lambda: woken.append(time.monotonic())).start()
    yield cluster, woken
    cluster.stop()


@pytest.fixture
def namespace(kube: KubeCluster) -> Iterator[str]:
    name = unique_name("watch")
    yield name
    kube.delete("v1", "Namespace", name)


def test_every_kind_lists_and_a_store_namespace_is_read_from_the_watch(
    cached: tuple[CachedCluster, list[float]], kube: KubeCluster, namespace: str
) -> None:
    cluster, woken = cached
    assert {kind: informer.synced for kind, informer in cluster.informers.items()} == dict.fromkeys(
        cluster.informers, True
    )
    gets_before = kube.requests.counts.get("GET", 0)
    check = Check("NamespaceReady", "Namespace", namespace, "Namespace")
    assert cluster.observe(namespace, check).reason == "NotCreated"
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": LABELS}})
    # The apply's answer is in at once; the default ServiceAccount arrives through the watch.
    ready = wait_for(lambda: (o := cluster.observe(namespace, check)).ready and o, timeout=30, what="namespace ready")
    assert ready.reason == "Active"
    assert woken, "a new namespace's account must wake the reconciler"
    assert cluster.fallbacks == 0
    assert kube.requests.counts.get("GET", 0) == gets_before, "readiness must not GET while the cache is synced"


def test_a_rollout_is_followed_and_our_own_apply_is_never_read_older(
    cached: tuple[CachedCluster, list[float]], kube: KubeCluster, namespace: str
) -> None:
    cluster, _ = cached
    usable_namespace(cluster, namespace)
    cluster.apply(deployment(namespace))
    wait_for(lambda: cluster.observe(namespace, WEB).ready, timeout=60, what="web available")
    # A new spec (a plan change): the very next read must not report the old rollout as done.
    answer = cluster.apply(deployment(namespace, replicas=2, image="registry.invalid/web:2"))
    after = cluster.observe(namespace, WEB)
    assert not after.ready, after
    cached_obj = cluster.informers["Deployment"].get(namespace, "web")
    assert cached_obj is not None
    assert int(cached_obj["metadata"]["resourceVersion"]) >= int(answer["metadata"]["resourceVersion"])
    ready = wait_for(lambda: (o := cluster.observe(namespace, WEB)).ready and o, timeout=60, what="rolled out")
    assert ready.message.endswith("2/2 available.")
    live = kube.get("apps/v1", "Deployment", "web", namespace=namespace)
    assert live is not None
    live_status = live["status"]
    assert live_status.get("updatedReplicas") == 2 and live_status.get("availableReplicas") == 2, live_status
    assert cluster.fallbacks == 0
    pods = cluster.pod_nodes(namespace)
    assert pods and pods <= {n["metadata"]["name"] for n in kube.list("v1", "Node")}


def test_old_pods_scaled_up_before_the_new_ones_start_are_not_a_finished_rollout(
    cached: tuple[CachedCluster, list[float]], kube: KubeCluster, namespace: str
) -> None:
    """Replicas and template changed at once: the Deployment controller first scales the old
    ReplicaSet up, and for a moment the status says 2 of 2 available at the observed
    generation, with no `updatedReplicas` (the API omits a zero). That moment once made the
    rollout test above read "2/2 available" with no new pod running. A paused Deployment
    holds it: the controller still scales and writes its status, but starts no new pod."""
    cluster, _ = cached
    usable_namespace(cluster, namespace)
    cluster.apply(deployment(namespace))
    wait_for(lambda: cluster.observe(namespace, WEB).ready, timeout=60, what="web available")
    answer = cluster.apply(deployment(namespace, replicas=2, image="registry.invalid/web:2", paused=True))

    def old_pods_scaled_up() -> dict[str, Any] | None:
        obj = cluster.informers["Deployment"].get(namespace, "web")
        status = (obj or {}).get("status") or {}
        held = status.get("observedGeneration") == answer["metadata"]["generation"]
        return status if held and status.get("availableReplicas") == 2 else None

    status = wait_for(old_pods_scaled_up, timeout=60, what="the old pods scaled up to 2")
    assert not status.get("updatedReplicas"), status
    held = cluster.observe(namespace, WEB)
    assert not held.ready and held.reason == "RollingOut" and "0/2 pods updated" in held.message, held
    cluster.apply(deployment(namespace, replicas=2, image="registry.invalid/web:2"))
    wait_for(lambda: cluster.observe(namespace, WEB).ready, timeout=60, what="rolled out once resumed")
    live = kube.get("apps/v1", "Deployment", "web", namespace=namespace)
    assert live is not None and live["status"].get("updatedReplicas") == 2, live and live["status"]


def test_a_job_deleted_and_created_again_is_never_read_as_the_old_one(
    cached: tuple[CachedCluster, list[float]], kube: KubeCluster, namespace: str
) -> None:
    cluster, _ = cached
    usable_namespace(cluster, namespace)
    cluster.apply(job(namespace, "first"))
    wait_for(lambda: cluster.observe(namespace, SETUP).ready, timeout=60, what="first run done")
    old_uid = cluster.informers["Job"].get(namespace, "setup")["metadata"]["uid"]  # type: ignore[index]
    assert cluster.delete("batch/v1", "Job", "setup", namespace=namespace)
    assert cluster.observe(namespace, SETUP).reason == "NotCreated"
    wait_for(lambda: kube.get("batch/v1", "Job", "setup", namespace=namespace) is None, timeout=30, what="gone")
    new = cluster.apply(job(namespace, "second"))
    assert new["metadata"]["uid"] != old_uid
    first_read = cluster.observe(namespace, SETUP)
    assert not first_read.ready, "the new Job was read as the old one's success"
    done = wait_for(lambda: (o := cluster.observe(namespace, SETUP)).ready and o, timeout=60, what="second run")
    assert cluster.informers["Job"].get(namespace, "setup")["metadata"]["uid"] == new["metadata"]["uid"]  # type: ignore[index]
    assert done.reason == "Completed"


def test_a_resync_lists_again_and_stop_ends_every_thread(cached: tuple[CachedCluster, list[float]]) -> None:
    cluster, _ = cached
    lists = {kind: informer.lists for kind, informer in cluster.informers.items()}
    cluster.resync()
    wait_for(
        lambda: all(i.synced and i.lists > lists[k] for k, i in cluster.informers.items()),
        timeout=30,
        what="every kind listed again",
    )
    cluster.stop()
    wait_for(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("watch-") and _owned(t, cluster)],
        timeout=10,
        what="the watch threads to end",
    )


def _owned(thread: threading.Thread, cluster: CachedCluster) -> bool:
    target = getattr(thread, "_target", None)
    return getattr(target, "__self__", None) in cluster.informers.values()
