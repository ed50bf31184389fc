"""Reconciler transitions against the in-memory FakeCluster (tests/fakes.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from provisioning import lease
from provisioning.actors import Actor
from provisioning.engines.base import SECRET_NAME
from provisioning.kube import WarningEvent
from provisioning.models import ClusterStatus, StoreStatus, WorkerLease, utcnow
from provisioning.reconciler import Reconciler, StepResult
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.conftest import make_settings
from tests.fakes import Clock, FakeCluster
from tests.shared.platform import audit_actions, store_row


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


def make_reconciler(
    db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, identity: str = "r1"
) -> Reconciler:
    return Reconciler(db, settings, lambda: cluster, identity=identity, clock=clock)


@pytest.fixture
def reconciler(db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock) -> Reconciler:
    return make_reconciler(db, settings, cluster, clock)


@pytest.fixture
def stores(db: Engine, settings: Settings) -> StoreService:
    return StoreService(db, settings)


reload = store_row
actions = audit_actions


def test_requested_to_ready(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    assert reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.PROVISIONING
    assert current.applied_at is not None
    assert current.health == "working"
    assert current.message.startswith("Working:")
    kinds = {kind for (kind, ns, _name) in cluster.objects if ns in ("", store.namespace)}
    assert {
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "Secret",
        "StatefulSet",
        "Deployment",
        "Job",
        "Ingress",
    } <= kinds
    assert [c["type"] for c in current.conditions] == [
        "NamespaceReady",
        "DatabaseReady",
        "AppReady",
        "StoreInstalled",
        "IngressReady",
    ]

    cluster.make_all_ready()
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.READY
    assert current.ready_at is not None
    *objects, shopper = current.conditions
    assert all(c["status"] == "True" for c in objects)
    # The fake is simulated like kwok: the shopper path is never claimed to pass.
    assert (shopper["type"], shopper["status"], shopper["reason"]) == ("ShopperReady", "Unknown", "NotVerifiable")
    assert current.shopper_status == "not_verifiable"
    assert "simulated cluster" in current.shopper_message
    assert store.url in current.message
    assert actions(db, store.id) == ["store.create", "store.provisioning", "store.ready"]


def test_manifests_are_applied_once_per_attempt_and_secret_never_rotated(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    applies = [c for c in cluster.calls if c[0] == "apply"]
    secret_before = cluster.objects[("Secret", store.namespace, SECRET_NAME)]["stringData"]
    reconciler.run_once()
    reconciler.run_once()
    assert [c for c in cluster.calls if c[0] == "apply"] == applies
    assert cluster.objects[("Secret", store.namespace, SECRET_NAME)]["stringData"] == secret_before


def test_ready_store_is_not_polled(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    cluster.make_all_ready()
    stores.create_store(alice, "shop-one")
    reconciler.run_once()
    calls = len(cluster.calls)
    for _ in range(5):
        reconciler.run_once()
    assert len(cluster.calls) == calls


def test_persistent_warning_is_shown_as_trouble(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    cluster.events[store.namespace] = [
        WarningEvent("Unhealthy", "Readiness probe failed", "Pod/wordpress-1"),
        WarningEvent("FailedScheduling", "0/2 nodes are available: 2 Insufficient cpu.", "Pod/mariadb-0"),
    ]
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.PROVISIONING
    assert current.health == "erroring"
    assert "No node has room" in current.message and "Insufficient cpu" in current.message


def test_timeout_fails_with_the_most_useful_cause(
    db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, stores: StoreService, alice: Actor
) -> None:
    reconciler = make_reconciler(db, settings, cluster, clock)
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    cluster.events[store.namespace] = [
        WarningEvent("Unhealthy", "probe failed", "Pod/x"),
        WarningEvent(
            "FailedCreate", 'pods "mariadb-0" is forbidden: exceeded quota: store-quota', "StatefulSet/mariadb"
        ),
    ]
    clock.advance(settings.provisioning_timeout_seconds + 1)
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.FAILED
    assert current.message.startswith("Not ready after 15 minutes.")
    assert "quota is too small" in current.message and "exceeded quota" in current.message
    assert actions(db, store.id)[-1] == "store.failed"


def test_timeout_without_events_names_the_pending_step(
    db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, stores: StoreService, alice: Actor
) -> None:
    reconciler = make_reconciler(db, settings, cluster, clock)
    store = stores.create_store(alice, "shop-one")
    cluster.ready_kinds = {"Namespace"}
    reconciler.run_once()
    clock.advance(settings.provisioning_timeout_seconds)
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.FAILED
    assert "Database" in current.message


def test_failed_setup_job_fails_the_store_at_once(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    cluster.ready_kinds = {"Namespace", "StatefulSet", "Deployment", "Ingress"}
    cluster.job_failed = True
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.FAILED
    assert current.message.startswith("The store setup failed")


def test_rejected_apply_fails_with_the_api_message(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    cluster.reject_kinds["Ingress"] = 'Ingress.networking.k8s.io "store" is invalid: spec.rules[0].host: Invalid value'
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.FAILED
    assert "spec.rules[0].host" in current.message


def test_retry_reapplies_and_recreates_the_setup_job(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    cluster.job_failed = True
    reconciler.run_once()
    assert reload(db, store.id).status == StoreStatus.FAILED
    cluster.job_failed = False
    stores.retry_store(alice, store.id)
    cluster.calls.clear()
    cluster.make_all_ready()
    reconciler.run_once()
    assert ("delete", "Job", store.namespace, "store-setup") in cluster.calls
    assert ("apply", "Job", store.namespace, "store-setup") in cluster.calls
    assert reload(db, store.id).status == StoreStatus.READY


def test_concurrency_is_bounded_and_queue_is_explained(
    db: Engine, tmp_path: Path, cluster: FakeCluster, clock: Clock, alice: Actor
) -> None:
    settings = make_settings(tmp_path, max_concurrent_provisioning=2, database_url=str(db.url))
    stores = StoreService(db, settings)
    reconciler = make_reconciler(db, settings, cluster, clock)
    created = [stores.create_store(alice, f"shop-{i}") for i in range(5)]
    reconciler.run_once()
    statuses = [reload(db, s.id).status for s in created]
    assert statuses.count(StoreStatus.PROVISIONING) == 2
    assert statuses.count(StoreStatus.REQUESTED) == 3
    assert "1 ahead" in reload(db, created[3].id).message
    # A pass that moves nobody in the queue writes none of its rows.
    queued_at = {s.id: reload(db, s.id).updated_at for s in created[2:]}
    clock.advance(5)
    reconciler.run_once()
    assert {s.id: reload(db, s.id).updated_at for s in created[2:]} == queued_at
    cluster.make_all_ready()
    for _ in range(4):
        reconciler.run_once()
    assert all(reload(db, s.id).status == StoreStatus.READY for s in created)


def test_resumes_after_a_crash_once_the_lease_expires(
    db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock, stores: StoreService, alice: Actor
) -> None:
    first = make_reconciler(db, settings, cluster, clock, identity="crashed")
    store = stores.create_store(alice, "shop-one")
    first.run_once()
    assert reload(db, store.id).status == StoreStatus.PROVISIONING
    # The first process dies without releasing its lease; a new one must wait for expiry.
    second = make_reconciler(db, settings, cluster, clock, identity="restarted")
    cluster.make_all_ready()
    assert not second.run_once()
    assert reload(db, store.id).status == StoreStatus.PROVISIONING
    with Session(db) as session:
        session.execute(update(WorkerLease).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert second.run_once()
    assert reload(db, store.id).status == StoreStatus.READY
    assert lease.current_holder(db) == "restarted"


def test_only_one_of_two_reconcilers_works(db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock) -> None:
    a = make_reconciler(db, settings, cluster, clock, identity="a")
    b = make_reconciler(db, settings, cluster, clock, identity="b")
    assert a.run_once()
    assert not b.run_once()
    lease.release(db, "a")
    assert b.run_once()
    assert not a.run_once()


def test_delete_waits_for_the_namespace_then_marks_deleted(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    cluster.make_all_ready()
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    stores.delete_store(alice, store.id)
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.DELETING
    assert cluster.namespace_phase(store.namespace) == "Terminating"
    assert "waiting for namespace" in current.message
    cluster.finish_termination()
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.DELETED
    assert current.deleted_at is not None
    assert not [k for k in cluster.objects if k[1] == store.namespace]
    assert actions(db, store.id)[-2:] == ["store.delete", "store.deleted"]


def test_delete_of_a_store_never_applied_is_immediate(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    stores.delete_store(alice, store.id)
    reconciler.run_once()
    assert reload(db, store.id).status == StoreStatus.DELETED
    assert not cluster.objects


def test_users_delete_wins_over_a_step_in_flight(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    stores.delete_store(alice, store.id)
    # A provisioning step that read the store before the delete now tries to save.
    reconciler._save(store.id, StoreStatus.PROVISIONING, StepResult({"status": StoreStatus.READY}, "store.ready"))
    current = reload(db, store.id)
    assert current.status == StoreStatus.DELETING
    assert "store.ready" not in actions(db, store.id)


def test_unreachable_cluster_is_reported_and_stores_wait(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    cluster.reachable = False
    store = stores.create_store(alice, "shop-one")
    assert not reconciler.run_once()
    with Session(db) as session:
        status = session.get(ClusterStatus, 1)
        assert status is not None and not status.reachable
        assert "connection refused" in status.error
    assert reload(db, store.id).status == StoreStatus.REQUESTED
    cluster.reachable = True
    cluster.make_all_ready()
    assert reconciler.run_once()
    assert reload(db, store.id).status == StoreStatus.READY
    with Session(db) as session:
        status = session.get(ClusterStatus, 1)
        assert status is not None and status.reachable and status.simulated


def test_cluster_lost_mid_pass_backs_off(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    cluster.reachable = False
    assert not reconciler.run_once()
    assert reconciler._failures == 1
    assert reload(db, store.id).status == StoreStatus.PROVISIONING


def test_vanished_namespace_of_a_ready_store_is_reported(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, clock: Clock, stores: StoreService, alice: Actor
) -> None:
    cluster.make_all_ready()
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    assert reload(db, store.id).status == StoreStatus.READY
    cluster.objects = {k: v for k, v in cluster.objects.items() if store.namespace not in (k[1], k[2])}
    clock.advance(60)
    reconciler.run_once()
    current = reload(db, store.id)
    assert current.status == StoreStatus.FAILED
    assert "disappeared" in current.message
