"""Changing a store's plan against the in-memory FakeCluster: the happy path, every refusal,
volumes that cannot shrink or cannot grow, and a pass interrupted half-way.

The same flow on a real control plane is tests/cluster/test_plans.py.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.errors import ClusterUnavailableError, InvalidStateError, PermissionDeniedError, ValidationError
from provisioning.models import StoreStatus
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import Clock, FakeCluster
from tests.shared.platform import audit_actions, set_store, store_row

CLAIMS = {"woocommerce": ("data-mariadb-0", "wordpress-data"), "medusa": ("data-postgres-0", "medusa-static")}
WEB = {"woocommerce": "wordpress", "medusa": "medusa-server"}


@pytest.fixture
def cluster() -> FakeCluster:
    cluster = FakeCluster()
    cluster.make_all_ready()
    return cluster


@pytest.fixture
def reconciler(db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock) -> Reconciler:
    return Reconciler(db, settings, lambda: cluster, identity="r1", clock=clock)


@pytest.fixture
def stores(db: Engine, settings: Settings) -> StoreService:
    return StoreService(db, settings)


def storage_class(cluster: FakeCluster, *, expandable: bool | None) -> None:
    """The StorageClass of every claim (the controller's binding of a claim, made by hand)."""
    body: dict[str, Any] = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "disks"}}
    if expandable is not None:
        body["allowVolumeExpansion"] = expandable
    cluster.objects[("StorageClass", "", "disks")] = body


def bind_claims(cluster: FakeCluster, namespace: str, engine: str) -> None:
    """What the StatefulSet controller and the PV binder do: a claim per template, with its class."""
    sts = next(o for (k, ns, _), o in cluster.objects.items() if k == "StatefulSet" and ns == namespace)
    template = sts["spec"]["volumeClaimTemplates"][0]
    database, uploads = CLAIMS[engine]
    cluster.objects[("PersistentVolumeClaim", namespace, database)] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": database, "namespace": namespace},
        "spec": copy.deepcopy(template["spec"]),
    }
    for name in (database, uploads):
        cluster.objects[("PersistentVolumeClaim", namespace, name)]["spec"]["storageClassName"] = "disks"


def ready_store(
    stores: StoreService, reconciler: Reconciler, cluster: FakeCluster, actor: Actor, *, engine: str = "woocommerce"
) -> tuple[str, str]:
    store = stores.create_store(actor, f"shop-{engine[:4]}", engine=engine)
    reconciler.run_once()
    row = store_row(stores.db, store.id)
    assert row.status == StoreStatus.READY and row.plan == "small"
    bind_claims(cluster, row.namespace, engine)
    return store.id, row.namespace


def claim_size(cluster: FakeCluster, namespace: str, name: str) -> str:
    return str(cluster.objects[("PersistentVolumeClaim", namespace, name)]["spec"]["resources"]["requests"]["storage"])


def converge(reconciler: Reconciler, passes: int = 3) -> None:
    for _ in range(passes):
        reconciler.run_once()


@pytest.mark.parametrize("engine", ["woocommerce", "medusa"])
def test_change_plan_reapplies_quota_limits_replicas_and_grows_the_volumes(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor, engine: str
) -> None:
    storage_class(cluster, expandable=True)
    store_id, ns = ready_store(stores, reconciler, cluster, alice, engine=engine)
    requested = stores.change_plan(alice, store_id, "large")
    assert requested.status == StoreStatus.RESIZING
    assert "volumes grow" in requested.message
    assert cluster.objects[("ResourceQuota", ns, "store-quota")]["spec"]["hard"]["requests.storage"] == "10Gi"

    converge(reconciler)
    row = store_row(db, store_id)
    assert row.status == StoreStatus.READY, row.message
    assert row.plan == "large" and row.previous_plan == "small"
    assert row.message.startswith("Ready on plan 'large'")
    assert row.volume_sizes == {"database": "20Gi", "uploads": "20Gi"}
    hard = cluster.objects[("ResourceQuota", ns, "store-quota")]["spec"]["hard"]
    assert hard["requests.storage"] == "60Gi" and hard["pods"] == "20"
    limits = cluster.objects[("LimitRange", ns, "store-limits")]["spec"]["limits"][0]
    assert limits["max"] == {"cpu": "2", "memory": "4Gi"}
    web = cluster.objects[("Deployment", ns, WEB[engine])]["spec"]
    assert web["replicas"] == 2
    assert web["template"]["spec"]["affinity"]["podAffinity"], "two replicas share the RWO volume's node"
    for claim in CLAIMS[engine]:
        assert claim_size(cluster, ns, claim) == "20Gi"
    # The StatefulSet keeps the claim template it was created with (Kubernetes refuses changes).
    sts = next(o for (k, n, _), o in cluster.objects.items() if k == "StatefulSet" and n == ns)
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert audit_actions(db, store_id)[-2:] == ["store.plan_change_requested", "store.plan_changed"]


def test_a_storage_class_without_expansion_keeps_the_size_and_says_so(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    storage_class(cluster, expandable=None)  # allowVolumeExpansion absent: false
    store_id, ns = ready_store(stores, reconciler, cluster, alice)
    stores.change_plan(alice, store_id, "medium")
    converge(reconciler)
    row = store_row(db, store_id)
    assert row.status == StoreStatus.READY and row.plan == "medium"
    assert "The database volume stays 2Gi (plan 'medium' has 10Gi)" in row.message
    assert "does not allow volume expansion" in row.message
    assert row.volume_sizes == {"database": "2Gi", "uploads": "2Gi"}
    assert claim_size(cluster, ns, "wordpress-data") == "2Gi"
    assert claim_size(cluster, ns, "data-mariadb-0") == "2Gi"
    assert cluster.objects[("ResourceQuota", ns, "store-quota")]["spec"]["hard"]["limits.cpu"] == "4"
    # Its volumes are still small, so a smaller plan is allowed: nothing would shrink.
    stores.change_plan(alice, store_id, "small")
    converge(reconciler)
    assert store_row(db, store_id).status == StoreStatus.READY


def test_volumes_never_shrink(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    storage_class(cluster, expandable=True)
    store_id, _ = ready_store(stores, reconciler, cluster, alice)
    stores.change_plan(alice, store_id, "large")
    converge(reconciler)
    with pytest.raises(InvalidStateError, match="Volumes never shrink: the database volume is 20Gi on this store; "):
        stores.change_plan(alice, store_id, "small")
    row = store_row(db, store_id)
    assert row.status == StoreStatus.READY and row.plan == "large"


def test_refusals(
    db: Engine,
    reconciler: Reconciler,
    cluster: FakeCluster,
    settings: Settings,
    alice: Actor,
    bob: Actor,
    admin: Actor,
) -> None:
    stores = StoreService(db, dataclasses.replace(settings, orderable_plans="small,medium"))
    with pytest.raises(PermissionDeniedError, match="not offered"):
        stores.create_store(alice, "big-one", plan="large")
    with pytest.raises(ValidationError, match="Unknown plan 'huge'"):
        stores.create_store(alice, "big-one", plan="huge")
    store = stores.create_store(alice, "shop-one")
    with pytest.raises(InvalidStateError, match="still provisioning"):
        stores.change_plan(alice, store.id, "medium")
    reconciler.run_once()
    with pytest.raises(InvalidStateError, match="already on plan 'small'"):
        stores.change_plan(alice, store.id, "small")
    with pytest.raises(PermissionDeniedError, match="not offered"):
        stores.change_plan(alice, store.id, "large")
    from provisioning.errors import NotFoundError

    with pytest.raises(NotFoundError):
        stores.change_plan(bob, store.id, "medium")
    # An administrator may order and change to any plan.
    assert [p.name for p in stores.orderable_plans(alice)] == ["small", "medium"]
    assert [p.name for p in stores.orderable_plans(admin)] == ["small", "medium", "large"]
    assert stores.change_plan(admin, store.id, "large").status == StoreStatus.RESIZING
    with pytest.raises(InvalidStateError, match="already being changed"):
        stores.change_plan(alice, store.id, "medium")
    set_store(db, store.id, status=StoreStatus.SUSPENDED)
    with pytest.raises(InvalidStateError, match="resume it, then change its plan"):
        stores.change_plan(alice, store.id, "medium")
    assert audit_actions(db, store.id).count("store.plan_change_requested") == 1


def test_an_interrupted_pass_converges(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    storage_class(cluster, expandable=True)
    store_id, ns = ready_store(stores, reconciler, cluster, alice)
    stores.change_plan(alice, store_id, "medium")
    # The API server goes away after the first claim was patched: nothing is recorded.
    original = cluster.patch
    patched: list[str] = []

    def patch_then_fail(*args: Any, **kwargs: Any) -> dict[str, Any]:
        result = original(*args, **kwargs)
        patched.append(args[2])
        cluster.reachable = False
        return result

    cluster.patch = patch_then_fail  # type: ignore[method-assign]
    with pytest.raises(ClusterUnavailableError):
        reconciler._resize_step(store_id)
    assert patched and store_row(db, store_id).plan_applied_at is None
    cluster.patch = original  # type: ignore[method-assign]
    cluster.reachable = True
    converge(reconciler)
    row = store_row(db, store_id)
    assert row.status == StoreStatus.READY, row.message
    assert row.volume_sizes == {"database": "10Gi", "uploads": "10Gi"}
    assert claim_size(cluster, ns, "data-mariadb-0") == "10Gi"
    assert claim_size(cluster, ns, "wordpress-data") == "10Gi"


def test_a_refused_change_keeps_the_store_and_retries(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store_id, _ = ready_store(stores, reconciler, cluster, alice)
    stores.change_plan(alice, store_id, "medium")
    cluster.reject_kinds["ResourceQuota"] = "resourcequotas is forbidden: admission webhook said no"
    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.RESIZING and row.health == "erroring"
    assert row.message.startswith("Changing the plan refused by Kubernetes:")
    cluster.reject_kinds.clear()
    set_store(db, store_id, next_attempt_at=None)
    converge(reconciler)
    assert store_row(db, store_id).status == StoreStatus.READY
