"""The reconciler reading readiness from its watch caches (WATCH_CLUSTER, the default) and
from GETs (WATCH_CLUSTER=false), on the real API server, through a store's provisioning.

Both must reach the same conditions; the caches must do it without a read per store per
pass: every readiness read answered from memory, and the API's GETs a handful at start
(the LISTs) rather than six per pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.models import StoreStatus
from provisioning.watch.cached_cluster import WATCHED, CachedCluster
from tests.shared.platform import StorePlatform

pytestmark = pytest.mark.cluster


class CountingPlatform(StorePlatform):
    """A platform whose driver counts its passes."""

    passes = 0

    def drive(self, store_id: str, until: Any, **kwargs: Any) -> Any:
        def counted(store: Any) -> bool:
            self.passes += 1
            return until(store)

        return super().drive(store_id, counted, **kwargs)


@pytest.fixture(params=[True, False], ids=["watches", "gets"])
def world(request: pytest.FixtureRequest, tmp_path: Path, control_plane: Any) -> Iterator[CountingPlatform]:
    platform = CountingPlatform(
        tmp_path, None, control_plane.kubeconfig, provisioning_timeout_seconds=120, watch_cluster=request.param
    )
    yield platform
    platform.cleanup()


def test_a_store_is_provisioned_with_the_same_conditions_either_way(world: CountingPlatform) -> None:
    kube = world.kube
    assert kube is not None
    store = world.create("watch")
    gets_before = kube.requests.counts.get("GET", 0)
    final = world.drive(store.id, lambda s: s.status == StoreStatus.READY, interval=0.1)
    gets = kube.requests.counts.get("GET", 0) - gets_before
    *objects, shopper = final.conditions
    assert [c["type"] for c in objects] == [
        "NamespaceReady",
        "DatabaseReady",
        "AppReady",
        "StoreInstalled",
        "IngressReady",
    ]
    assert all(c["status"] == "True" for c in objects), objects
    assert shopper["reason"] == "NotVerifiable"
    driver = world._driver
    assert driver is not None
    print(f"\n{world.settings.watch_cluster=}: {world.passes} passes, {gets} GETs to ready")
    if world.settings.watch_cluster:
        assert isinstance(driver.cluster, CachedCluster)
        assert driver.cluster.fallbacks == 0, "a readiness read went to the API while the caches were synced"
        # The LIST of each kind at start, the probe (version and nodes) and the drift check's namespace LIST.
        assert gets <= len(WATCHED) + 4, gets
    else:
        assert not isinstance(driver.cluster, CachedCluster)
        # A GET per check (a namespace: two) and the Warning events' LIST, every pass until ready.
        assert gets >= 2 * world.passes, (gets, world.passes)
