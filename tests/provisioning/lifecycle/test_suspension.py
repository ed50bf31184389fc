"""Suspend and resume against the in-memory FakeCluster: every transition and failure.

The same flow on a real control plane is tests/cluster/test_suspension.py.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.engines import get_engine
from provisioning.engines.base import SECRET_NAME
from provisioning.errors import (
    ClusterUnavailableError,
    InvalidStateError,
    LimitExceededError,
    PermissionDeniedError,
    ValidationError,
)
from provisioning.lifecycle.decisions import spec_for
from provisioning.models import AuditEvent, StoreStatus, WorkerLease, utcnow
from provisioning.operations import suspension
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import Clock, FakeCluster
from tests.shared.platform import audit_actions, set_store, store_row

WORKLOADS = {("StatefulSet", "mariadb"), ("Deployment", "wordpress")}


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


def ready_store(stores: StoreService, reconciler: Reconciler, actor: Actor, name: str = "shop-one") -> str:
    store = stores.create_store(actor, name)
    reconciler.run_once()
    assert store_row(stores.db, store.id).status == StoreStatus.READY
    return store.id


def replicas(cluster: FakeCluster, namespace: str) -> dict[tuple[str, str], int]:
    return {
        (kind, name): obj["spec"]["replicas"]
        for (kind, ns, name), obj in cluster.objects.items()
        if ns == namespace and kind in ("StatefulSet", "Deployment")
    }


def test_suspend_scales_to_zero_removes_the_ingress_and_keeps_the_data(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    ns = store_row(db, store_id).namespace
    secret_before = cluster.objects[("Secret", ns, SECRET_NAME)]["stringData"]

    requested = stores.suspend_store(alice, store_id)
    assert requested.status == StoreStatus.SUSPENDING
    assert store_row(db, store_id).status == StoreStatus.SUSPENDING  # only intent so far: nothing in the cluster
    assert set(replicas(cluster, ns).values()) == {1}

    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.SUSPENDED
    assert row.health == "working"
    assert "Resume it" in row.message
    assert replicas(cluster, ns) == dict.fromkeys(WORKLOADS, 0)
    assert cluster.objects[("CronJob", ns, "wp-cron")]["spec"]["suspend"] is True
    assert ("Ingress", ns, "store") not in cluster.objects
    assert cluster.objects[("Secret", ns, SECRET_NAME)]["stringData"] == secret_before
    assert ("PersistentVolumeClaim", ns, "wordpress-data") in cluster.objects
    assert cluster.namespace_phase(ns) == "Active"
    assert audit_actions(db, store_id)[-2:] == ["store.suspend_requested", "store.suspended"]

    # Settled: more passes touch nothing (not polled, never re-checked as a shopper).
    calls = len(cluster.calls)
    for _ in range(3):
        reconciler.run_once()
    assert len(cluster.calls) == calls


def test_resume_restores_the_engines_replicas_and_ingress_through_the_readiness_checks(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor, settings: Settings
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    row = store_row(db, store_id)
    ns, ready_at = row.namespace, row.ready_at
    stores.suspend_store(alice, store_id)
    reconciler.run_once()

    cluster.ready_kinds.discard("Deployment")  # the web server takes a while to start again
    resumed = stores.resume_store(alice, store_id)
    assert resumed.status == StoreStatus.RESUMING
    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.RESUMING
    assert row.message.startswith("Resuming: Web server")
    assert {c["type"]: c["status"] for c in row.conditions}["AppReady"] == "False"
    manifests = get_engine("woocommerce").workloads(spec_for(row, "alice"), settings)
    expected = {
        (m["kind"], m["metadata"]["name"]): m["spec"]["replicas"] for m in manifests if "replicas" in m.get("spec", {})
    }
    assert replicas(cluster, ns) == expected
    assert cluster.objects[("CronJob", ns, "wp-cron")]["spec"]["suspend"] is False
    assert cluster.objects[("Ingress", ns, "store")]["spec"]["rules"][0]["host"].startswith("shop-one.")

    cluster.make_all_ready()
    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.READY
    assert row.ready_at == ready_at, "time to ready is the first provisioning's"
    # The same shopper-path step as provisioning: on a simulated cluster, never a pass.
    assert row.conditions[-1]["type"] == "ShopperReady"
    assert row.shopper_status == "not_verifiable"
    assert (row.suspended_at, row.suspended_reason, row.suspended_by_admin) == (None, "", False)
    assert audit_actions(db, store_id)[-2:] == ["store.resume_requested", "store.resumed"]


def test_suspending_waits_until_the_pods_are_gone(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    ns = store_row(db, store_id).namespace
    cluster.objects[("StatefulSet", ns, "mariadb")]["status"] = {"replicas": 1}
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.SUSPENDING
    assert "StatefulSet mariadb: 1 pod still stopping" in row.message
    patches = [c for c in cluster.calls if c[0] == "patch"]
    cluster.objects[("StatefulSet", ns, "mariadb")]["status"] = {"replicas": 0}
    reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.SUSPENDED
    assert [c for c in cluster.calls if c[0] == "patch"] == patches, "scaled down once per request"


def test_a_pass_killed_after_scaling_down_converges_on_the_next(
    db: Engine,
    settings: Settings,
    cluster: FakeCluster,
    clock: Clock,
    stores: StoreService,
    alice: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reconciler = Reconciler(db, settings, lambda: cluster, identity="r1", clock=clock)
    store_id = ready_store(stores, reconciler, alice)
    ns = store_row(db, store_id).namespace
    stores.suspend_store(alice, store_id)

    # The worker dies between the cluster changes and the status write.
    def killed(*_args: object, **_kwargs: object) -> None:
        raise SystemExit("worker killed")

    monkeypatch.setattr(Reconciler, "_save", killed)
    with pytest.raises(SystemExit):
        reconciler._step_safely(store_id, StoreStatus.SUSPENDING)
    monkeypatch.undo()
    assert replicas(cluster, ns) == dict.fromkeys(WORKLOADS, 0)
    assert store_row(db, store_id).status == StoreStatus.SUSPENDING

    # A new worker (nothing in memory) takes over once the dead one's lease expires, finds
    # the intent in the database and converges.
    with Session(db) as session:
        session.execute(update(WorkerLease).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    fresh = Reconciler(db, settings, lambda: cluster, identity="r2", clock=clock)
    assert fresh.run_once()
    assert store_row(db, store_id).status == StoreStatus.SUSPENDED
    assert replicas(cluster, ns) == dict.fromkeys(WORKLOADS, 0)

    # The same on the way back: killed after restoring, before the write.
    stores.resume_store(alice, store_id)
    monkeypatch.setattr(Reconciler, "_save", killed)
    with pytest.raises(SystemExit):
        fresh._step_safely(store_id, StoreStatus.RESUMING)
    monkeypatch.undo()
    assert set(replicas(cluster, ns).values()) == {1}
    fresh.run_once()
    assert store_row(db, store_id).status == StoreStatus.READY
    assert audit_actions(db, store_id).count("store.resumed") == 1


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (StoreStatus.REQUESTED, "still provisioning; suspend it once it is ready"),
        (StoreStatus.PROVISIONING, "still provisioning; suspend it once it is ready"),
        (StoreStatus.FAILED, "retry or delete it"),
        (StoreStatus.SUSPENDING, "already being suspended"),
        (StoreStatus.SUSPENDED, "already suspended"),
        (StoreStatus.RESUMING, "being resumed"),
        (StoreStatus.DELETING, "being deleted"),
        (StoreStatus.DELETED, "deleted"),
    ],
)
def test_suspend_only_from_ready(
    db: Engine, stores: StoreService, alice: Actor, status: StoreStatus, words: str
) -> None:
    store = stores.create_store(alice, "shop-one")
    set_store(db, store.id, status=status)
    with pytest.raises(InvalidStateError, match=words):
        stores.suspend_store(alice, store.id)
    assert store_row(db, store.id).status == status
    assert "store.suspend_requested" not in audit_actions(db, store.id)


def test_a_degraded_store_can_be_suspended_and_is_not_erroring_while_suspended(
    db: Engine, reconciler: Reconciler, stores: StoreService, alice: Actor
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    set_store(db, store_id, health="degraded")
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    row = store_row(db, store_id)
    assert (row.status, row.health) == (StoreStatus.SUSPENDED, "working")


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (StoreStatus.READY, "not suspended"),
        (StoreStatus.SUSPENDING, "still being suspended; resume it once it is suspended"),
        (StoreStatus.RESUMING, "already being resumed"),
        (StoreStatus.PROVISIONING, "Only suspended stores can be resumed"),
        (StoreStatus.FAILED, "Only suspended stores can be resumed"),
        (StoreStatus.DELETING, "being deleted"),
    ],
)
def test_resume_only_from_suspended(
    db: Engine, stores: StoreService, alice: Actor, status: StoreStatus, words: str
) -> None:
    store = stores.create_store(alice, "shop-one")
    set_store(db, store.id, status=status)
    with pytest.raises(InvalidStateError, match=words):
        stores.resume_store(alice, store.id)
    assert store_row(db, store.id).status == status


def test_admin_suspends_with_a_reason_and_only_an_admin_can_resume(
    db: Engine, reconciler: Reconciler, stores: StoreService, alice: Actor, admin: Actor
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    with pytest.raises(ValidationError, match="Give a reason") as missing:
        stores.suspend_store(admin, store_id, reason="   ")
    assert missing.value.field == "reason"
    with pytest.raises(ValidationError, match="under 500"):
        stores.suspend_store(admin, store_id, reason="x" * 501)

    stores.suspend_store(admin, store_id, reason="Phishing  pages\nreported")
    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.SUSPENDED
    assert (row.suspended_by_admin, row.suspended_reason) == (True, "Phishing pages reported")
    assert row.message == "Suspended by an administrator: Phishing pages reported. Only an administrator can resume it."
    # The owner sees it in the list too (the summary columns carry it).
    (summary,) = stores.list_stores(alice)
    assert summary.suspended_by_admin and summary.suspended_reason == "Phishing pages reported"

    with pytest.raises(PermissionDeniedError, match="only an administrator can resume it"):
        stores.resume_store(alice, store_id)
    assert store_row(db, store_id).status == StoreStatus.SUSPENDED
    stores.resume_store(admin, store_id)
    reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.READY

    with Session(db) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.store_id == store_id).order_by(col(AuditEvent.id))
        ).all()
    requested = [e for e in events if e.action == "store.suspend_requested"]
    assert [(e.actor, e.detail) for e in requested] == [("admin", "by an administrator: Phishing pages reported")]
    assert [e.actor for e in events if e.action == "store.resume_requested"] == ["admin"]


def test_admin_can_lock_a_store_its_owner_suspended(
    db: Engine, reconciler: Reconciler, stores: StoreService, alice: Actor, admin: Actor
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    assert not store_row(db, store_id).suspended_by_admin
    stores.suspend_store(admin, store_id, reason="Unpaid invoice")
    row = store_row(db, store_id)
    assert (row.status, row.suspended_by_admin) == (StoreStatus.SUSPENDED, True)
    assert "Unpaid invoice" in row.message
    with pytest.raises(PermissionDeniedError):
        stores.resume_store(alice, store_id)
    with pytest.raises(InvalidStateError, match="already suspended"):
        stores.suspend_store(admin, store_id, reason="again")


def test_other_users_cannot_suspend_or_resume(
    db: Engine, reconciler: Reconciler, stores: StoreService, alice: Actor, bob: Actor
) -> None:
    from provisioning.errors import NotFoundError

    store_id = ready_store(stores, reconciler, alice)
    with pytest.raises(NotFoundError):
        stores.suspend_store(bob, store_id)
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    with pytest.raises(NotFoundError):
        stores.resume_store(bob, store_id)


def test_suspended_stores_count_against_the_limit(
    db: Engine, reconciler: Reconciler, settings: Settings, alice: Actor
) -> None:
    stores = StoreService(db, dataclasses.replace(settings, max_stores_per_user=2))
    first = ready_store(stores, reconciler, alice, "shop-one")
    ready_store(stores, reconciler, alice, "shop-two")
    stores.suspend_store(alice, first)
    reconciler.run_once()
    usage = stores.usage(alice)
    assert (usage.used, usage.allowed, usage.suspended, usage.remaining) == (2, 2, 1, 0)
    with pytest.raises(LimitExceededError, match="suspended stores count"):
        stores.create_store(alice, "shop-three")


def test_deleting_a_suspended_store_removes_everything(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    ns = store_row(db, store_id).namespace
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    stores.delete_store(alice, store_id)
    reconciler.run_once()
    assert cluster.namespace_phase(ns) == "Terminating"
    cluster.finish_termination()
    reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.DELETED
    assert store_row(db, store_id).active_name is None


def test_delete_during_suspending_wins_over_the_step(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    ns = store_row(db, store_id).namespace
    cluster.objects[("Deployment", ns, "wordpress")]["status"] = {"replicas": 1}
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    stores.delete_store(alice, store_id)
    reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.DELETING


def test_an_unreachable_cluster_leaves_the_intent_for_later(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor, clock: Clock
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    stores.suspend_store(alice, store_id)
    cluster.reachable = False
    assert not reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.SUSPENDING
    cluster.reachable = True
    clock.advance(120)
    assert reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.SUSPENDED


def test_a_refused_patch_is_shown_and_retried(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor, clock: Clock
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    original = cluster.patch

    def refuse(*args: object, **kwargs: object) -> dict:
        from provisioning.errors import ClusterRejectedError

        error = ClusterRejectedError("The Kubernetes API refused the request (403): forbidden")
        error.status = 403  # type: ignore[attr-defined]
        raise error

    cluster.patch = refuse  # type: ignore[method-assign]
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    row = store_row(db, store_id)
    assert (row.status, row.health) == (StoreStatus.SUSPENDING, "erroring")
    assert row.message.startswith("Suspending refused by Kubernetes: ")
    cluster.patch = original  # type: ignore[method-assign]
    clock.advance(31)
    reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.SUSPENDED


def test_a_slow_resume_says_so_and_keeps_watching(
    db: Engine,
    reconciler: Reconciler,
    cluster: FakeCluster,
    stores: StoreService,
    alice: Actor,
    clock: Clock,
    settings: Settings,
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    cluster.ready_kinds.discard("StatefulSet")
    stores.resume_store(alice, store_id)
    # The service stamps the resume with the real time; the reconciler's clock started when
    # the fixture was made, which on a loaded machine can be seconds earlier. Line them up.
    clock.now = max(clock.now, store_row(db, store_id).resuming_started_at)
    reconciler.run_once()
    clock.advance(settings.provisioning_timeout_seconds + 1)
    reconciler.run_once()
    row = store_row(db, store_id)
    assert (row.status, row.health) == (StoreStatus.RESUMING, "erroring")
    assert "after resuming" in row.message and "Still watching" in row.message
    cluster.make_all_ready()
    clock.advance(31)
    reconciler.run_once()
    assert store_row(db, store_id).status == StoreStatus.READY


def test_a_suspended_store_whose_namespace_vanished_fails(
    db: Engine, reconciler: Reconciler, cluster: FakeCluster, stores: StoreService, alice: Actor, clock: Clock
) -> None:
    store_id = ready_store(stores, reconciler, alice)
    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    ns = store_row(db, store_id).namespace
    cluster.objects = {k: v for k, v in cluster.objects.items() if k[1] != ns and k[2] != ns}
    clock.advance(60)
    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.FAILED and "disappeared" in row.message


# -- the pure patch functions -------------------------------------------------------------


def test_patches_come_from_the_engines_manifests(settings: Settings) -> None:
    for engine_name in ("woocommerce", "medusa"):
        engine = get_engine(engine_name)
        spec = spec_for(
            _FakeStore(engine=engine_name),
            "alice",  # type: ignore[arg-type]
        )
        manifests = engine.workloads(spec, settings)
        down = suspension.suspend_patches(manifests)
        up = suspension.resume_patches(manifests)
        scaled = [m for m in manifests if m["kind"] in ("StatefulSet", "Deployment")]
        assert scaled, engine_name
        assert {(p.kind, p.name) for p in down} == {(p.kind, p.name) for p in up}
        for manifest in scaled:
            key = (manifest["kind"], manifest["metadata"]["name"])
            assert next(p.body for p in down if (p.kind, p.name) == key) == {"spec": {"replicas": 0}}
            assert next(p.body for p in up if (p.kind, p.name) == key) == {
                "spec": {"replicas": manifest["spec"]["replicas"]}
            }
        assert all(p.namespace == spec.namespace for p in down)
        assert not [p for p in down if p.kind in ("Job", "Secret", "PersistentVolumeClaim", "Namespace")]
        assert [m["kind"] for m in suspension.ingresses(manifests)] == ["Ingress"]


def test_a_workload_is_stopped_only_when_its_controller_reports_no_pod() -> None:
    def sts(generation: int, observed: int, replicas: int) -> dict:
        return {
            "kind": "StatefulSet",
            "metadata": {"name": "db", "generation": generation},
            "status": {"observedGeneration": observed, "replicas": replicas},
        }

    assert suspension.workload_stopped(None) == (True, "")
    assert suspension.workload_stopped(sts(2, 2, 0)) == (True, "")
    assert suspension.workload_stopped(sts(3, 2, 0))[0] is False  # the controller has not seen replicas 0 yet
    assert suspension.workload_stopped(sts(2, 2, 2)) == (False, "StatefulSet db: 2 pods still stopping.")


def test_a_missing_workload_is_not_an_error(cluster: FakeCluster, settings: Settings) -> None:
    spec = spec_for(_FakeStore(engine="woocommerce"), "alice")  # type: ignore[arg-type]
    manifests = get_engine("woocommerce").workloads(spec, settings)
    cluster.apply(manifests[0])  # only the namespace exists
    suspension.scale_down(cluster, manifests)
    assert suspension.stopped(cluster, manifests) == (True, "")
    cluster.reachable = False
    with pytest.raises(ClusterUnavailableError):
        suspension.scale_down(cluster, manifests)


@dataclasses.dataclass
class _FakeStore:
    engine: str
    id: str = "0123456789abcdef0123456789abcdef"
    name: str = "shop-one"
    namespace: str = "store-shop-one-01234567"
    admin_user: str = "shop-one-admin"
    versions: dict[str, str] | None = None


def test_the_health_monitor_leaves_a_suspended_store_alone(
    db: Engine,
    settings: Settings,
    cluster: FakeCluster,
    clock: Clock,
    stores: StoreService,
    alice: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a real cluster (not simulated) ready stores are re-checked as shoppers; a suspended
    one answers nothing by design, so it must not be checked, nor flagged degraded."""
    from provisioning.health import monitor
    from provisioning.health.shopper import ShopperResult
    from provisioning.models import ShopperStatus

    cluster.simulated = False
    checked: list[str] = []
    answer = ShopperResult(ShopperStatus.PASSED, "A shopper's requests succeed.")

    def check(_cluster: object, spec: object, _settings: object, *, simulated: bool) -> ShopperResult:
        checked.append(spec.name)  # type: ignore[attr-defined]
        return answer

    monkeypatch.setattr(monitor, "run_check", check)
    reconciler = Reconciler(db, settings, lambda: cluster, identity="r1", clock=clock)
    store_id = ready_store(stores, reconciler, alice)
    assert store_row(db, store_id).shopper_status == "passed"
    clock.advance(settings.shopper_check_interval_seconds + 1)
    reconciler.run_once()
    assert len(checked) == 2, "a ready store is re-checked"

    stores.suspend_store(alice, store_id)
    reconciler.run_once()
    answer = ShopperResult(ShopperStatus.FAILED, "Storefront: 404 from the ingress controller.")
    for _ in range(3):
        clock.advance(settings.shopper_check_interval_seconds + 1)
        reconciler.run_once()
    row = store_row(db, store_id)
    assert len(checked) == 2, "a suspended store is never checked as a shopper"
    assert (row.status, row.health) == (StoreStatus.SUSPENDED, "working")

    stores.resume_store(alice, store_id)
    answer = ShopperResult(ShopperStatus.FAILED, "Storefront: 503.")
    reconciler.run_once()
    row = store_row(db, store_id)
    assert row.status == StoreStatus.RESUMING, "resume waits for the shopper path like provisioning"
    assert row.message == "Resuming: Waiting for the storefront: Storefront: 503."
    answer = ShopperResult(ShopperStatus.PASSED, "A shopper's requests succeed.")
    reconciler.run_once()
    row = store_row(db, store_id)
    assert (row.status, row.shopper_status) == (StoreStatus.READY, "passed")
