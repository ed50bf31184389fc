"""The outbox: the reconciler's status change and its event rows commit together.

Driven like tests/provisioning/test_reconciler.py: the in-memory FakeCluster, a clock the
test moves, the real services on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.engines.base import SECRET_NAME
from provisioning.engines.woocommerce import KEY_ADMIN_USER
from provisioning.health import monitor
from provisioning.health.shopper import ShopperResult
from provisioning.models import ShopperStatus, StoreStatus, WebhookDelivery
from provisioning.notifications import outbox
from provisioning.notifications.dispatcher import Dispatcher
from provisioning.notifications.webhooks import WebhookService
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.fakes import Clock, FakeCluster
from tests.provisioning.notifications.conftest import Receiver
from tests.shared.platform import set_store, store_row

ALL = ["store.ready", "store.failed", "store.degraded", "store.deleted"]


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def reconciler(db: Engine, settings: Settings, cluster: FakeCluster, clock: Clock) -> Reconciler:
    return Reconciler(db, settings, lambda: cluster, identity="outbox-test", clock=clock)


@pytest.fixture
def stores(db: Engine, settings: Settings) -> StoreService:
    return StoreService(db, settings)


@pytest.fixture
def webhooks(db: Engine, settings: Settings, clock: Clock) -> WebhookService:
    return WebhookService(db, settings, platform_key=lambda: "k" * 40, clock=clock)


def rows(db: Engine) -> list[WebhookDelivery]:
    with Session(db) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all())


def test_ready_store_queues_one_row_per_matching_webhook(
    db: Engine,
    reconciler: Reconciler,
    cluster: FakeCluster,
    stores: StoreService,
    webhooks: WebhookService,
    admin: Actor,
    alice: Actor,
    bob: Actor,
) -> None:
    alices = webhooks.create(alice, "alice ready", "http://127.0.0.1:1/a", ["store.ready"]).webhook
    webhooks.create(alice, "alice deleted only", "http://127.0.0.1:1/b", ["store.deleted"])
    webhooks.create(bob, "bob all", "http://127.0.0.1:1/c", ALL)  # not bob's store: nothing
    everything = webhooks.create(admin, "global", "http://127.0.0.1:1/d", ALL, global_scope=True).webhook
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    assert rows(db) == []  # provisioning is not an event
    cluster.make_all_ready()
    reconciler.run_once()
    current = store_row(db, store.id)
    assert current.status == StoreStatus.READY
    queued = rows(db)
    assert sorted(row.webhook_id for row in queued) == sorted([alices.id, everything.id])
    assert {row.event_type for row in queued} == {"store.ready"}
    assert len({row.event_id for row in queued}) == 1
    assert all(row.status == "pending" and row.next_attempt_at == current.updated_at for row in queued)
    payload = queued[0].payload
    assert payload["type"] == "store.ready"
    assert payload["store"] == {
        "id": store.id,
        "name": "shop-one",
        "engine": "woocommerce",
        "status": "ready",
        "health": "working",
        "url": current.url,
        "message": current.message,
        "owner": "alice",
    }
    # None of the store's generated credentials (in its Secret in the cluster) is in a row.
    secret = cluster.objects[("Secret", store.namespace, SECRET_NAME)]["stringData"]
    values = [value for key, value in secret.items() if key != KEY_ADMIN_USER]
    assert values
    text = json.dumps([row.payload for row in queued])
    assert not [value for value in values if value in text]


def test_failed_degraded_and_deleted_are_queued(
    db: Engine,
    settings: Settings,
    stores: StoreService,
    webhooks: WebhookService,
    alice: Actor,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nodes that run containers, and a shopper check the test answers (passing, then not).
    cluster = FakeCluster(simulated=False)
    reconciler = Reconciler(db, settings, lambda: cluster, identity="outbox-test", clock=clock)
    shopper = [ShopperResult(ShopperStatus.PASSED, "storefront answered")]
    monkeypatch.setattr(monitor, "run_check", lambda *args, **kwargs: shopper[0])
    webhooks.create(alice, "all", "http://127.0.0.1:1/a", ALL)
    failing = stores.create_store(alice, "shop-fail")
    cluster.job_failed = True
    reconciler.run_once()
    reconciler.run_once()
    assert store_row(db, failing.id).status == StoreStatus.FAILED
    assert [(r.event_type, r.store_id) for r in rows(db)] == [("store.failed", failing.id)]

    cluster.job_failed = False
    cluster.make_all_ready()
    ok = stores.create_store(alice, "shop-ok")
    reconciler.run_once()
    reconciler.run_once()
    assert store_row(db, ok.id).status == StoreStatus.READY
    # The shopper path starts failing on a ready store: degraded, once.
    shopper[0] = ShopperResult(ShopperStatus.FAILED, "HTTP 502 at /")
    set_store(db, ok.id, shopper_checked_at=None)
    reconciler.run_once()
    set_store(db, ok.id, shopper_checked_at=None)
    reconciler.run_once()
    assert store_row(db, ok.id).health == "degraded"
    stores.delete_store(alice, ok.id)
    reconciler.run_once()
    cluster.finish_termination()
    clock.advance(60)
    reconciler.run_once()
    assert store_row(db, ok.id).status == StoreStatus.DELETED
    assert [(r.event_type, r.store_id) for r in rows(db)] == [
        ("store.failed", failing.id),
        ("store.ready", ok.id),
        ("store.degraded", ok.id),
        ("store.deleted", ok.id),
    ]
    degraded = rows(db)[2].payload["store"]
    assert (degraded["status"], degraded["health"]) == ("ready", "degraded")
    assert rows(db)[3].payload["store"]["status"] == "deleted"


def test_event_rows_and_status_change_commit_together(
    db: Engine,
    reconciler: Reconciler,
    cluster: FakeCluster,
    stores: StoreService,
    webhooks: WebhookService,
    alice: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies right after queuing the event, before the commit: neither the
    status change nor the event is saved. Next pass, both are (exactly one event)."""
    webhooks.create(alice, "ready", "http://127.0.0.1:1/a", ["store.ready"])
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    cluster.make_all_ready()
    real: Callable[..., Any] = outbox.enqueue_store_event

    def enqueue_then_crash(session: Session, *args: Any, **kwargs: Any) -> Any:
        queued = real(session, *args, **kwargs)
        session.flush()  # the rows reached the database inside the transaction
        assert queued
        raise RuntimeError("process died before commit")

    monkeypatch.setattr(outbox, "enqueue_store_event", enqueue_then_crash)
    with pytest.raises(RuntimeError, match="process died"):
        reconciler.run_once()
    assert store_row(db, store.id).status == StoreStatus.PROVISIONING
    assert rows(db) == []
    monkeypatch.undo()
    reconciler.run_once()
    assert store_row(db, store.id).status == StoreStatus.READY
    assert [r.event_type for r in rows(db)] == ["store.ready"]


def test_disabled_owner_gets_no_events(
    db: Engine,
    reconciler: Reconciler,
    cluster: FakeCluster,
    stores: StoreService,
    webhooks: WebhookService,
    users: UserService,
    admin: Actor,
    alice: Actor,
) -> None:
    webhooks.create(alice, "ready", "http://127.0.0.1:1/a", ["store.ready"])
    cluster.make_all_ready()
    stores.create_store(alice, "shop-one")
    users.set_disabled(admin, "alice", True)
    reconciler.run_once()
    assert rows(db) == []


def test_queued_event_is_delivered_by_the_dispatcher(
    db: Engine,
    settings: Settings,
    reconciler: Reconciler,
    cluster: FakeCluster,
    stores: StoreService,
    webhooks: WebhookService,
    alice: Actor,
    clock: Clock,
    receiver: Receiver,
) -> None:
    webhooks.create(alice, "ready", receiver.url, ["store.ready"], slack=True)
    cluster.make_all_ready()
    store = stores.create_store(alice, "shop-one")
    reconciler.run_once()
    assert store_row(db, store.id).status == StoreStatus.READY
    Dispatcher(db, settings, platform_key=lambda: "k" * 40, clock=clock).deliver_due(clock.now)
    [request] = receiver.requests
    text = request.json["text"]
    assert text.startswith(":white_check_mark: Store *shop-one* (woocommerce, owner alice) is ready:")
    assert [r.status for r in rows(db)] == ["delivered"]
