"""A Medusa store's lifecycle on the real control plane: the real API server, controllers,
scheduler and admission (ResourceQuota, LimitRange, ServiceAccount, Pod Security
`restricted`); kwok plays the kubelet, so containers are simulated and everything else
is Kubernetes' own behaviour.

Driven through the real service and reconciler; every object is read back from the API
server, as admitted, not from the engine's rendering.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from provisioning.engines.base import LABEL_COMPONENT, LABEL_ENGINE, LABEL_STORE_ID, SECRET_NAME
from provisioning.engines.medusa import (
    KEY_ADMIN_PASSWORD,
    KEY_COOKIE_SECRET,
    KEY_DB_PASSWORD,
    KEY_JWT_SECRET,
    KEY_PUBLISHABLE_KEY,
    PORT,
)
from provisioning.errors import ClusterRejectedError
from provisioning.kube import KubeCluster
from provisioning.models import Store, StoreStatus
from tests.provisioning.test_tenancy import quantity
from tests.shared.platform import StorePlatform, status_is
from tests.shared.portal import unique

pytestmark = pytest.mark.cluster

COMPONENTS = {"database", "cache", "server", "worker", "setup"}
POLICIES = {
    "default-deny",
    "allow-dns",
    "allow-ingress-controller-to-server",
    "allow-app-to-database",
    "allow-app-egress-to-database",
    "allow-app-to-cache",
    "allow-app-egress-to-cache",
}


class World(StorePlatform):
    """One test's platform (own SQLite database, services, reconciler) on the shared cluster."""

    def __init__(self, tmp_path: Path, kubeconfig: Path, **overrides: Any) -> None:
        overrides.setdefault("provisioning_timeout_seconds", 120)
        super().__init__(tmp_path, None, kubeconfig, **overrides)
        self.kube: KubeCluster = self.kube  # type: ignore[assignment]  # always set: a kubeconfig is given

    def order_medusa(self, prefix: str) -> Store:
        store = self.stores.create_store(self.alice, unique(prefix), engine="medusa")
        self.created.append(store)
        return store


@pytest.fixture
def world(tmp_path: Path, control_plane: Any) -> Iterator[World]:
    w = World(tmp_path, control_plane.kubeconfig)
    yield w
    w.cleanup()


def charged(pod: dict[str, Any]) -> dict[str, Decimal]:
    """What the quota charges a pod as admitted: max(largest init container, sum of containers)."""
    spec = pod["spec"]
    result = {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            total = sum((quantity(c["resources"][kind][resource]) for c in spec["containers"]), Decimal(0))
            init = [quantity(c["resources"][kind][resource]) for c in spec.get("initContainers", [])]
            result[f"{kind}.{resource}"] = max([total, *init])
    return result


def test_medusa_store_lifecycle_through_the_api_server(world: World) -> None:
    store = world.order_medusa("med")
    assert store.status == StoreStatus.REQUESTED and store.engine == "medusa"
    seen: set[str] = set()

    def ready(s: Store) -> bool:
        seen.add(s.status)
        return s.status == StoreStatus.READY

    final = world.drive(store.id, ready)
    assert StoreStatus.PROVISIONING in seen
    assert [c["type"] for c in final.conditions] == [
        "NamespaceReady",
        "DatabaseReady",
        "CacheReady",
        "AppReady",
        "WorkerReady",
        "StoreInstalled",
        "IngressReady",
        "ShopperReady",
    ]
    *objects, shopper = final.conditions
    assert all(c["status"] == "True" for c in objects), final.conditions
    assert (shopper["status"], shopper["reason"]) == ("Unknown", "NotVerifiable"), shopper
    kube, ns = world.kube, store.namespace

    namespace = kube.get("v1", "Namespace", ns)
    assert namespace is not None
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels[LABEL_ENGINE] == "medusa"
    assert labels[LABEL_STORE_ID] == store.id

    # Quota: Medusa's own values, and what the admitted pods are charged stays inside them.
    quota = kube.get("v1", "ResourceQuota", "store-quota", namespace=ns)
    assert quota is not None
    hard, used = quota["status"]["hard"], quota["status"]["used"]
    assert hard["limits.memory"] == world.settings.medusa_quota_limits_memory
    assert hard["limits.cpu"] == world.settings.medusa_quota_limits_cpu
    for key in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory"):
        assert quantity(used[key]) <= quantity(hard[key]), key
    pods = kube.list("v1", "Pod", namespace=ns)
    assert {p["metadata"]["labels"][LABEL_COMPONENT] for p in pods} == COMPONENTS
    totals: dict[str, Decimal] = {}
    for pod in pods:
        for key, value in charged(pod).items():
            totals[key] = totals.get(key, Decimal(0)) + value
    for key, total in totals.items():
        assert total <= quantity(hard[key]), f"{key}: the store's pods need {total}, the quota allows {hard[key]}"

    # Pod Security: every pod was admitted under `restricted`, as the engine's own user.
    uids = {"database": 999, "cache": 999, "server": 1000, "worker": 1000, "setup": 1000}
    for pod in pods:
        component = pod["metadata"]["labels"][LABEL_COMPONENT]
        assert pod["spec"]["securityContext"]["runAsUser"] == uids[component], component
        for container in pod["spec"]["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, component

    policies = {p["metadata"]["name"] for p in kube.list("networking.k8s.io/v1", "NetworkPolicy", namespace=ns)}
    assert policies == POLICIES

    # The Secret: exactly the engine's keys; the values only there, never in a spec.
    secret = kube.get("v1", "Secret", SECRET_NAME, namespace=ns)
    assert secret is not None
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(values) == {KEY_DB_PASSWORD, KEY_JWT_SECRET, KEY_COOKIE_SECRET, KEY_ADMIN_PASSWORD, KEY_PUBLISHABLE_KEY}
    assert re.fullmatch(r"pk_[0-9a-f]{64}", values[KEY_PUBLISHABLE_KEY])
    specs = json.dumps(
        [
            *kube.list("apps/v1", "Deployment", namespace=ns),
            *kube.list("apps/v1", "StatefulSet", namespace=ns),
            *kube.list("batch/v1", "Job", namespace=ns),
            *pods,
        ]
    )
    for key, value in values.items():
        assert value not in specs, f"{key} appears in a stored object"

    sts = kube.get("apps/v1", "StatefulSet", "postgres", namespace=ns)
    assert sts is not None and sts["status"]["readyReplicas"] == 1
    pvcs = kube.list("v1", "PersistentVolumeClaim", namespace=ns)
    assert {p["metadata"]["name"] for p in pvcs} == {"data-postgres-0", "medusa-static"}
    assert all(p["status"]["phase"] == "Bound" for p in pvcs)
    for name in ("redis", "medusa-server", "medusa-worker"):
        deployment = kube.get("apps/v1", "Deployment", name, namespace=ns)
        assert deployment is not None and deployment["status"]["availableReplicas"] == 1, name
    job = kube.get("batch/v1", "Job", "store-setup", namespace=ns)
    assert job is not None and job["status"]["succeeded"] == 1

    service = kube.get("v1", "Service", "medusa", namespace=ns)
    assert service is not None
    selected = [
        p for p in pods if all(p["metadata"]["labels"].get(k) == v for k, v in service["spec"]["selector"].items())
    ]
    assert [p["metadata"]["labels"][LABEL_COMPONENT] for p in selected] == ["server"]
    ingress = kube.get("networking.k8s.io/v1", "Ingress", "store", namespace=ns)
    assert ingress is not None
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == f"{store.name}.{world.settings.domain}"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "medusa", "port": {"number": PORT}}

    # The owner reads the credentials through the service, from the Secret.
    assert world.stores.reveal_publishable_key(world.alice, store.id) == values[KEY_PUBLISHABLE_KEY]
    assert world.stores.reveal_admin_password(world.alice, store.id) == values[KEY_ADMIN_PASSWORD]

    # Admission really enforces `restricted` here: the server's pod without its
    # non-root settings is refused.
    server = kube.get("apps/v1", "Deployment", "medusa-server", namespace=ns)
    assert server is not None
    unsafe = json.loads(json.dumps(server["spec"]["template"]["spec"]))
    unsafe["securityContext"] = {}
    for container in [*unsafe["containers"], *unsafe["initContainers"]]:
        container["securityContext"] = {}
    with pytest.raises(ClusterRejectedError) as refused:
        kube._request(
            "POST",
            f"/api/v1/namespaces/{ns}/pods",
            query={"dryRun": "All"},
            body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unsafe"}, "spec": unsafe},
        )
    assert "PodSecurity" in str(refused.value)

    # Deletion leaves nothing: the namespace and both volumes go.
    volumes = world.volumes_of(ns)
    assert len(volumes) == 2
    world.stores.delete_store(world.alice, store.id)
    deleted = world.drive(store.id, status_is(StoreStatus.DELETED), timeout=120)
    assert deleted.deleted_at is not None
    assert kube.get("v1", "Namespace", ns) is None
    assert kube.list("v1", "PersistentVolumeClaim", namespace=ns) == []
    world.volumes_released(volumes, timeout=30)


def test_medusa_quota_setting_is_what_admission_enforces(tmp_path: Path, control_plane: Any) -> None:
    """A Medusa quota too small for its pods: Kubernetes refuses them and the owner is told."""
    world = World(
        tmp_path,
        control_plane.kubeconfig,
        provisioning_timeout_seconds=25,
        medusa_quota_limits_memory="1Gi",
    )
    try:
        store = world.order_medusa("tight")
        trouble = world.drive(store.id, lambda s: s.health == "erroring" or s.status == StoreStatus.FAILED)
        assert "quota is too small" in trouble.message, trouble.message
        quota = world.kube.get("v1", "ResourceQuota", "store-quota", namespace=store.namespace)
        assert quota is not None and quota["spec"]["hard"]["limits.memory"] == "1Gi"
        final = world.drive(store.id, status_is(StoreStatus.FAILED, StoreStatus.READY), timeout=90)
        assert final.status == StoreStatus.FAILED and "quota is too small" in final.message, final.message
        world.stores.delete_store(world.alice, store.id)
        world.drive(store.id, status_is(StoreStatus.DELETED), timeout=120)
        assert world.kube.get("v1", "Namespace", store.namespace) is None
    finally:
        world.cleanup()
