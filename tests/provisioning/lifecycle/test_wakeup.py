"""Wake-ups: an intent starts a reconciler pass at once, not at the next interval.

The reconcile interval here is an hour, so anything picked up within the tests' bound came
from a wake-up: in-process (portal and reconciler on one engine) and, on PostgreSQL, across
"processes" (two engines, LISTEN/NOTIFY), including after the listener's connection is
killed. Polling as the safety net and the backoff are covered too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.lifecycle.wakeup import Wakeup, for_database
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.fakes import FakeCluster
from tests.shared.platform import store_row
from tests.shared.portal import create_users, make_settings
from tests.shared.waiting import wait_for

INTERVAL = 3600.0  # far longer than any wait below: a pickup within PICKUP is a wake-up
# The bound on a woken pass. What proves the wake-up is the interval, not this bound: it only
# has to hold on a 2-core CI machine at load 14 (5 s failed there once, with Go builds beside
# the tests; a woken pass takes milliseconds on an idle one, see bench `pickup_p50_ms`).
PICKUP = 30.0


class Passes:
    """Counts a reconciler's passes; `gate`, when cleared, holds the pass numbered `hold_at`."""

    def __init__(self, reconciler: Reconciler) -> None:
        self.count = 0  # passes started
        self.done = 0  # passes finished
        self.started = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.hold_at = 0
        run_once = reconciler.run_once

        def counted() -> bool:
            self.count += 1
            self.started.set()
            if self.count == self.hold_at:
                self.gate.wait(10)
            try:
                return run_once()
            finally:
                self.done += 1

        reconciler.run_once = counted  # type: ignore[method-assign]


@contextmanager
def running(reconciler: Reconciler) -> Iterator[Passes]:
    """The reconciler's run_forever in a thread, after its first pass (so later work is a wake-up's)."""
    passes = Passes(reconciler)
    stop = threading.Event()
    thread = threading.Thread(target=reconciler.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: passes.done >= 1, timeout=10, what="the first pass to finish")
        yield passes
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive(), "the reconciler did not stop within 10 s of stop"


def slow_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    return make_settings(tmp_path, database_url=database_url, reconcile_interval_seconds=INTERVAL, **overrides)


def applied(db: Engine, store_id: str) -> Callable[[], bool]:
    return lambda: store_row(db, store_id).applied_at is not None


# -- the Wakeup itself ------------------------------------------------------------------------


def test_notifications_coalesce_until_cleared() -> None:
    wakeup = Wakeup()
    assert not wakeup.wait(0)
    for _ in range(100):
        wakeup.notify()
    assert wakeup.wait(0) and wakeup.wait(5)  # still set: one pass handles them all
    wakeup.clear()
    assert not wakeup.wait(0)


def test_wait_returns_on_stop() -> None:
    stop = threading.Event()
    stop.set()
    assert not Wakeup().wait(30, stop)


# -- in-process (SQLite and PostgreSQL) --------------------------------------------------------


def test_create_delete_and_retry_start_a_pass_at_once(tmp_path: Path, database_url: str) -> None:
    settings = slow_settings(tmp_path, database_url)
    db = make_engine(settings.database_url)
    migrate(db)
    users = UserService(db, settings)
    users.ensure_first_admin()
    alice = create_users(users, "alice")["alice"]
    stores = StoreService(db, settings)
    cluster = FakeCluster(reject_kinds={"Job": "admission webhook denied the request"})
    reconciler = Reconciler(db, settings, lambda: cluster, identity="r1")
    try:
        with running(reconciler) as passes:
            store = stores.create_store(alice, "shop-one")
            wait_for(lambda: store_row(db, store.id).status == "failed", timeout=PICKUP, what="the order to be applied")
            cluster.reject_kinds.clear()
            stores.retry_store(alice, store.id)
            wait_for(
                lambda: store_row(db, store.id).status == "provisioning" and applied(db, store.id)(),
                timeout=PICKUP,
                what="the retry to be applied",
            )
            stores.delete_store(alice, store.id)
            wait_for(lambda: cluster.namespace_phase(store.namespace) != "Active", timeout=PICKUP, what="the delete")
            assert passes.count >= 4
    finally:
        db.dispose()


def test_an_order_is_applied_within_a_second(tmp_path: Path, db: Engine, settings: Settings, alice: Actor) -> None:
    settings = slow_settings(tmp_path, settings.database_url)
    cluster = FakeCluster()
    with running(Reconciler(db, settings, lambda: cluster, identity="r1")):
        store = StoreService(db, settings).create_store(alice, "shop-one")
        wait_for(applied(db, store.id), timeout=PICKUP, interval=0.02, what="the order to be applied")
        assert ("apply", "Namespace", "", store.namespace) in cluster.calls


def test_a_burst_of_orders_is_coalesced(tmp_path: Path, db: Engine, settings: Settings, alice: Actor) -> None:
    settings = slow_settings(
        tmp_path, settings.database_url, max_concurrent_provisioning=50, max_stores_per_user=50, max_creates_per_hour=50
    )
    stores = StoreService(db, settings)
    reconciler = Reconciler(db, settings, lambda: FakeCluster(), identity="r1")
    with running(reconciler) as passes:
        passes.hold_at, passes.started = 2, threading.Event()
        passes.gate.clear()
        first = stores.create_store(alice, "shop-0")  # wakes pass 2, held at the gate
        wait_for(passes.started.is_set, timeout=PICKUP, what="the woken pass")
        ids = [first.id] + [stores.create_store(alice, f"shop-{i}").id for i in range(1, 30)]
        passes.gate.set()  # pass 2, then one more for the 29 that came meanwhile
        wait_for(lambda: all(applied(db, i)() for i in ids), timeout=PICKUP, what="all 30 orders to be applied")
        assert passes.count in (2, 3)  # pass 2 saw all 30 (the gate held it before it read)
        wait_for(lambda: passes.count == 3, timeout=PICKUP, what="the pass for the wake-ups during pass 2")
        assert not for_database(db).wait(0)  # cleared by pass 3, nothing since: no pass 4 until the interval
        assert passes.count == 3


def test_no_wake_up_during_backoff(tmp_path: Path, db: Engine, settings: Settings, alice: Actor) -> None:
    """With the cluster unreachable the loop backs off; an order does not cut that short."""
    settings = slow_settings(tmp_path, settings.database_url)
    reconciler = Reconciler(db, settings, lambda: FakeCluster(reachable=False), identity="r1")
    with running(reconciler) as passes:
        passes.started.clear()
        StoreService(db, settings).create_store(alice, "shop-one")
        assert for_database(db).wait(0)  # the wake-up was sent...
        assert not passes.started.wait(1.0), "a wake-up cut the backoff short"  # ...and ignored
        assert passes.count == 1


# -- across processes: PostgreSQL LISTEN/NOTIFY ------------------------------------------------


@pytest.mark.postgres
def test_another_process_is_woken_through_notify_and_after_a_lost_connection(tmp_path: Path, postgres_url: str) -> None:
    settings = slow_settings(tmp_path, postgres_url)
    portal_db, worker_db = make_engine(postgres_url), make_engine(postgres_url)  # two "processes"
    try:
        migrate(portal_db)
        users = UserService(portal_db, settings)
        users.ensure_first_admin()
        alice = create_users(users, "alice")["alice"]
        stores = StoreService(portal_db, settings)
        cluster = FakeCluster()
        wakeup = for_database(worker_db)
        with running(Reconciler(worker_db, settings, lambda: cluster, identity="worker")):
            pid = wait_for(lambda: wakeup.listener_pid, timeout=5, what="the listener")
            store = stores.create_store(alice, "shop-one")
            wait_for(applied(worker_db, store.id), timeout=PICKUP, interval=0.02, what="the order to be applied")

            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_for(lambda: wakeup.listener_pid not in (None, pid), timeout=10, what="the listener to reconnect")
            again = stores.create_store(alice, "shop-two")
            wait_for(applied(worker_db, again.id), timeout=PICKUP, interval=0.02, what="the next order to be applied")
    finally:
        portal_db.dispose()
        worker_db.dispose()
