"""The reconciler's last readiness step and what it reports: the shopper path, timeouts that
recover, and causes from the current attempt only.

The cluster is the in-memory FakeCluster; the shopper path goes to a real HTTP server on
this machine that routes by Host header (tests/health/router.py), set as SHOPPER_CHECK_URL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.kube import WarningEvent
from provisioning.models import FailureKind, ShopperStatus, StoreStatus
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.conftest import make_settings
from tests.fakes import Clock, FakeCluster
from tests.health.router import HostRouter, Route, host_router, serve_woocommerce
from tests.provisioning.test_reconciler import actions, reload

router = host_router
pytestmark = pytest.mark.usefixtures("router")


@pytest.fixture
def real_cluster() -> FakeCluster:
    """A fake whose nodes claim to run containers, so the shopper path is really checked."""
    return FakeCluster(simulated=False)


@pytest.fixture
def shop_settings(tmp_path: Path, database_url: str, router: HostRouter) -> Settings:
    return make_settings(
        tmp_path,
        database_url=database_url,
        shopper_check_url=router.url,
        shopper_check_timeout_seconds=2.0,
        shopper_check_interval_seconds=60,
    )


@pytest.fixture
def reconciler(db: Engine, shop_settings: Settings, real_cluster: FakeCluster, clock: Clock) -> Reconciler:
    return Reconciler(db, shop_settings, lambda: real_cluster, identity="shopper-test", clock=clock)


@pytest.fixture
def stores(db: Engine, shop_settings: Settings) -> StoreService:
    return StoreService(db, shop_settings)


def scheduling_warning(cluster: FakeCluster, namespace: str, clock: Clock, message: str, obj: str) -> None:
    """A FailedScheduling event seen during the current attempt (a second after now)."""
    seen = (clock.now + timedelta(seconds=1)).isoformat()
    cluster.events[namespace] = [WarningEvent("FailedScheduling", message, obj, last_seen=seen)]


def host(settings: Settings, name: str) -> str:
    return f"{name}.{settings.domain}"


def test_ready_only_when_a_shopper_gets_the_storefront_and_the_product(
    db: Engine,
    reconciler: Reconciler,
    real_cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    router: HostRouter,
    shop_settings: Settings,
) -> None:
    store = stores.create_store(alice, "shop-one")
    real_cluster.make_all_ready()
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.PROVISIONING, "objects are ready but nothing answers a shopper"
    assert current.health == "working"
    assert current.message.startswith("Working: Waiting for the storefront: Storefront:")
    assert "answered 404" in current.message
    shopper = current.conditions[-1]
    assert (shopper["type"], shopper["status"]) == ("ShopperReady", "False")

    serve_woocommerce(router, host(shop_settings, "shop-one"), name="shop-one")
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.READY
    assert current.shopper_status == ShopperStatus.PASSED
    assert current.conditions[-1]["status"] == "True"
    assert [h for h, _, _ in router.seen][-2:] == [host(shop_settings, "shop-one")] * 2


def test_a_ready_store_whose_storefront_breaks_is_degraded_then_recovers(
    db: Engine,
    reconciler: Reconciler,
    real_cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    router: HostRouter,
    shop_settings: Settings,
    clock: Clock,
) -> None:
    store_host = host(shop_settings, "shop-two")
    serve_woocommerce(router, store_host, name="shop-two")
    store = stores.create_store(alice, "shop-two")
    real_cluster.make_all_ready()
    reconciler.run_once()
    assert reload(db, store.id).status == StoreStatus.READY

    router.routes[(store_host, "/")] = Route(status=502, body="<h1>502 Bad Gateway</h1>")
    reconciler.run_once()
    assert reload(db, store.id).health == "working", "not re-checked before the interval"
    clock.advance(shop_settings.shopper_check_interval_seconds + 1)
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.READY
    assert current.health == "degraded"
    assert current.shopper_status == ShopperStatus.FAILED
    assert current.message.startswith("Degraded: shoppers cannot use the store.") and "502" in current.message

    serve_woocommerce(router, store_host, name="shop-two")
    clock.advance(shop_settings.shopper_check_interval_seconds + 1)
    reconciler.run_once()
    current = reload(db, store.id)
    assert (current.health, current.shopper_status) == ("working", ShopperStatus.PASSED)
    assert current.message == f"Ready: open {current.url}"
    assert actions(db, store.id)[-2:] == ["store.degraded", "store.recovered"]


def test_a_store_failed_on_time_alone_becomes_ready_when_it_converges(
    db: Engine,
    reconciler: Reconciler,
    real_cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    router: HostRouter,
    shop_settings: Settings,
    clock: Clock,
) -> None:
    store = stores.create_store(alice, "slow-shop")
    reconciler.run_once()
    clock.advance(shop_settings.provisioning_timeout_seconds + 1)
    reconciler.run_once()
    current = reload(db, store.id)
    assert (current.status, current.failure_kind) == (StoreStatus.FAILED, FailureKind.TIMEOUT)
    assert "Still watching" in current.message

    # Images finally pulled: everything comes up.
    real_cluster.make_all_ready()
    serve_woocommerce(router, host(shop_settings, "slow-shop"), name="slow-shop")
    clock.advance(31)
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.READY and current.failure_kind is None
    assert actions(db, store.id)[-2:] == ["store.failed", "store.ready"]


def test_a_failed_job_reports_its_own_failure_not_an_old_event(
    db: Engine,
    reconciler: Reconciler,
    real_cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    clock: Clock,
) -> None:
    store = stores.create_store(alice, "bad-shop")
    reconciler.run_once()
    scheduling_warning(
        real_cluster,
        store.namespace,
        clock,
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules.",
        "Pod/store-setup-abc",
    )
    real_cluster.ready_kinds = {"Namespace", "StatefulSet", "Deployment", "Ingress"}
    real_cluster.job_failed = True
    reconciler.run_once()
    current = reload(db, store.id)
    assert (current.status, current.failure_kind) == (StoreStatus.FAILED, FailureKind.SETUP)
    assert current.message.startswith("The store setup failed.") and "BackoffLimitExceeded" in current.message
    assert "No node has room" not in current.message and "affinity" not in current.message


def test_waiting_for_the_web_pod_is_not_trouble(
    db: Engine,
    reconciler: Reconciler,
    real_cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    clock: Clock,
) -> None:
    store = stores.create_store(alice, "new-shop")
    reconciler.run_once()
    scheduling_warning(
        real_cluster,
        store.namespace,
        clock,
        "0/3 nodes are available: 3 node(s) didn't match pod affinity rules. preemption: not helpful",
        "Pod/store-setup-abc",
    )
    reconciler.run_once()
    current = reload(db, store.id)
    assert (current.status, current.health) == (StoreStatus.PROVISIONING, "working")
    assert current.message.startswith("Working:")


def test_events_from_before_this_attempt_do_not_explain_it(
    db: Engine,
    reconciler: Reconciler,
    real_cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    shop_settings: Settings,
    clock: Clock,
) -> None:
    store = stores.create_store(alice, "old-shop")
    reconciler.run_once()
    stale = clock.now - timedelta(minutes=30)
    real_cluster.events[store.namespace] = [
        WarningEvent("FailedCreate", "exceeded quota: store-quota", "StatefulSet/mariadb", last_seen=stale.isoformat())
    ]
    reconciler.run_once()
    assert reload(db, store.id).health == "working"
    clock.advance(shop_settings.provisioning_timeout_seconds + 1)
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.FAILED
    assert "quota" not in current.message, "a stale event must not be named as the cause"


def test_a_claim_being_bound_is_waiting_not_trouble(
    db: Engine,
    reconciler: Reconciler,
    real_cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    clock: Clock,
) -> None:
    store = stores.create_store(alice, "pvc-shop")
    reconciler.run_once()
    scheduling_warning(
        real_cluster,
        store.namespace,
        clock,
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: not helpful",
        "Pod/mariadb-0",
    )
    reconciler.run_once()
    assert reload(db, store.id).health == "working"


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        ({"real-node-0"}, ShopperStatus.PASSED),
        ({"real-node-0", "kwok-node-0"}, ShopperStatus.NOT_VERIFIABLE),
        (set(), ShopperStatus.NOT_VERIFIABLE),
    ],
    ids=["all-pods-on-a-real-node", "a-pod-on-kwok", "no-pod-bound"],
)
def test_on_a_cluster_with_kwok_nodes_a_store_on_real_nodes_is_checked_for_real(
    db: Engine,
    shop_settings: Settings,
    stores: StoreService,
    alice: Actor,
    router: HostRouter,
    clock: Clock,
    placement: set[str],
    expected: str,
) -> None:
    """The harness's real node sits beside kwok's: where the store's pods run decides."""
    cluster = FakeCluster(simulated=True, fake_nodes=frozenset({"kwok-node-0"}))
    reconciler = Reconciler(db, shop_settings, lambda: cluster, identity="mixed-test", clock=clock)
    store = stores.create_store(alice, "mixed-one")
    serve_woocommerce(router, host(shop_settings, "mixed-one"), name="mixed-one")
    cluster.pod_placement[store.namespace] = placement
    cluster.make_all_ready()
    reconciler.run_once()
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.READY
    assert current.shopper_status == expected
    checked = [h for h, _, _ in router.seen]
    assert checked == ([host(shop_settings, "mixed-one")] * 2 if expected == ShopperStatus.PASSED else [])
