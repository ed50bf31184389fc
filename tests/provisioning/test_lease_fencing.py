"""The lease as a fencing token: a deposed reconciler's late writes are refused.

A pass can outlive its lease (the worker paused by SIGSTOP, a frozen VM); a standby then
takes over. These tests put the deposed worker exactly there: it has computed a step while
leader, the lease has moved on, and it now tries to write.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col

from provisioning import lease
from provisioning.actors import Actor
from provisioning.db import session_scope
from provisioning.models import StoreStatus, WorkerLease, utcnow
from provisioning.reconciler import Reconciler, StepResult
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import FakeCluster
from tests.provisioning.test_reconciler import actions, reload


def take_over(db: Engine, holder: str) -> None:
    """What a standby's try_acquire does once the paused leader's lease expired."""
    with session_scope(db) as session:
        session.execute(
            update(WorkerLease)
            .where(col(WorkerLease.name) == lease.LEASE_NAME)
            .values(holder=holder, expires_at=utcnow() + timedelta(seconds=15))
        )


def test_a_deposed_reconcilers_step_result_is_refused(db: Engine, settings: Settings, alice: Actor) -> None:
    cluster = FakeCluster()
    paused = Reconciler(db, settings, lambda: cluster, identity="paused-worker")
    store = StoreService(db, settings).create_store(alice, "fenced-shop")
    assert paused.run_once()  # leader: promotes the store and applies it
    before = reload(db, store.id)
    assert before.status == StoreStatus.PROVISIONING

    take_over(db, "standby-worker")
    late = StepResult({"status": StoreStatus.READY, "message": "Ready (from a deposed worker)"}, "store.ready")
    with pytest.raises(lease.LeaseLostError):
        paused._save(store.id, StoreStatus.PROVISIONING, late)
    after = reload(db, store.id)
    assert (after.status, after.message) == (before.status, before.message)
    assert "store.ready" not in actions(db, store.id)


def test_a_deposed_reconciler_stops_its_pass_without_writing(db: Engine, settings: Settings, alice: Actor) -> None:
    cluster = FakeCluster()
    paused = Reconciler(db, settings, lambda: cluster, identity="paused-worker")
    service = StoreService(db, settings)
    store = service.create_store(alice, "fenced-two")
    assert paused.run_once()
    take_over(db, "standby-worker")
    # The paused worker resumes mid-pass: every write path checks the fence.
    with pytest.raises(lease.LeaseLostError):
        paused._promote_requested()
    paused._last_drift = None
    with pytest.raises(lease.LeaseLostError):
        paused._drift_check()
    # And a whole pass while another holds the lease does nothing at all.
    cluster.make_all_ready()
    assert paused.run_once() is False
    assert reload(db, store.id).status == StoreStatus.PROVISIONING


def test_the_leader_writes_as_before(db: Engine, settings: Settings, alice: Actor) -> None:
    cluster = FakeCluster()
    cluster.make_all_ready()
    leader = Reconciler(db, settings, lambda: cluster, identity="leader")
    store = StoreService(db, settings).create_store(alice, "leader-shop")
    leader.run_once()
    leader.run_once()
    assert reload(db, store.id).status == StoreStatus.READY


def test_renew_extends_only_a_lease_still_held(db: Engine) -> None:
    assert lease.try_acquire(db, "me", ttl_seconds=15)
    assert lease.renew(db, "me", ttl_seconds=60)
    assert lease.current_holder(db) == "me"
    assert not lease.renew(db, "someone-else", ttl_seconds=60)
    take_over(db, "standby")
    assert not lease.renew(db, "me", ttl_seconds=60), "a renewal must never take a lease back"
    assert lease.current_holder(db) == "standby"


def test_a_pass_longer_than_the_ttl_keeps_its_lease(db: Engine) -> None:
    ttl = 0.6
    assert lease.try_acquire(db, "me", ttl_seconds=ttl)
    with lease.kept(db, "me", ttl_seconds=ttl):
        time.sleep(3 * ttl)  # a pass with 100 stores in flight
        with session_scope(db) as session:
            lease.fence(session, "me")  # raises LeaseLostError if it had expired
    time.sleep(1.5 * ttl)  # the pass is over: no more renewals, the lease runs out
    assert lease.current_holder(db) is None
