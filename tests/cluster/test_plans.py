"""Plans on the real control plane (kwok plays the kubelet): a store ordered on `medium`
gets medium's quota, limits and volume sizes; moving it to `large` re-applies the quota,
limits and replicas and grows the volumes exactly as the harness's StorageClass allows,
keeping every claim (and so every byte of data)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.models import StoreStatus
from tests.shared.platform import StorePlatform, status_is
from tests.shared.portal import unique
from tests.shared.waiting import wait_for

pytestmark = pytest.mark.cluster

CLAIMS = {"database": "data-mariadb-0", "uploads": "wordpress-data"}


@pytest.fixture
def world(tmp_path: Path, control_plane: Any) -> Iterator[StorePlatform]:
    platform = StorePlatform(tmp_path, None, control_plane.kubeconfig, provisioning_timeout_seconds=120)
    yield platform
    platform.cleanup()


def claim_sizes(world: StorePlatform, namespace: str) -> dict[str, str]:
    assert world.kube is not None
    sizes = {}
    for volume, claim in CLAIMS.items():
        obj = world.kube.get("v1", "PersistentVolumeClaim", claim, namespace=namespace)
        assert obj is not None, claim
        sizes[volume] = obj["spec"]["resources"]["requests"]["storage"]
    return sizes


def test_order_on_medium_then_change_to_large(world: StorePlatform) -> None:
    kube = world.kube
    assert kube is not None
    catalog = world.settings.catalog
    store = world.stores.create_store(world.alice, unique("plans"), plan="medium")
    world.created.append(store)
    world.drive(store.id, status_is(StoreStatus.READY))
    ns = store.namespace
    medium = catalog.get("medium").for_engine("woocommerce")
    hard = kube.get("v1", "ResourceQuota", "store-quota", namespace=ns)["spec"]["hard"]  # type: ignore[index]
    assert {key: hard[key] for key in medium.quota} == dict(medium.quota)
    assert claim_sizes(world, ns) == dict(medium.volumes)
    uids = {p["metadata"]["uid"] for p in kube.list("v1", "PersistentVolumeClaim", namespace=ns)}

    world.stores.change_plan(world.alice, store.id, "large")
    seen: set[str] = set()

    def ready(s: Any) -> bool:
        seen.add(s.status)
        return s.status == StoreStatus.READY

    changed = world.drive(store.id, ready, timeout=150)
    assert StoreStatus.RESIZING in seen and changed.plan == "large"
    large = catalog.get("large").for_engine("woocommerce")
    hard = kube.get("v1", "ResourceQuota", "store-quota", namespace=ns)["spec"]["hard"]  # type: ignore[index]
    assert {key: hard[key] for key in large.quota} == dict(large.quota)
    limits = kube.get("v1", "LimitRange", "store-limits", namespace=ns)["spec"]["limits"][0]  # type: ignore[index]
    assert limits["max"] == dict(large.limits["max"])
    web = kube.get("apps/v1", "Deployment", "wordpress", namespace=ns)
    assert web is not None and web["spec"]["replicas"] == large.replicas == 2
    # Ready meant both new-plan pods available with no old one left (readiness.rollout_pending);
    # read again until the API shows it, since kwok's pods can be replaced in between (seen in CI).
    web = wait_for(
        lambda: (
            (d := kube.get("apps/v1", "Deployment", "wordpress", namespace=ns))
            and (d.get("status") or {}).get("availableReplicas") == 2
            and d
        ),
        timeout=90,
        what="both web pods of the large plan available",
    )

    # Volumes: grown exactly when the claims' StorageClass allows expansion, never replaced.
    claim = kube.get("v1", "PersistentVolumeClaim", CLAIMS["database"], namespace=ns)
    assert claim is not None
    storage_class = kube.get("storage.k8s.io/v1", "StorageClass", claim["spec"]["storageClassName"])
    assert storage_class is not None
    if storage_class.get("allowVolumeExpansion"):
        assert claim_sizes(world, ns) == dict(large.volumes)
        assert changed.volume_sizes == dict(large.volumes)
        assert "does not allow volume expansion" not in changed.message
    else:
        assert claim_sizes(world, ns) == dict(medium.volumes)
        assert "The database volume stays 10Gi" in changed.message
    sts = kube.get("apps/v1", "StatefulSet", "mariadb", namespace=ns)
    assert sts is not None
    template = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert template == medium.volumes["database"], "claim templates never change"
    assert {p["metadata"]["uid"] for p in kube.list("v1", "PersistentVolumeClaim", namespace=ns)} == uids
    assert world.actions(store.id)[-2:] == ["store.plan_change_requested", "store.plan_changed"]
