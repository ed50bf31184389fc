"""PostgreSQL restarted under the portal and the reconciler.

The tests own this PostgreSQL server (tests/reliability/support.RestartablePostgres) so
they can stop and start it. While it is down every page shows a plain message (never a
trace) and arms a timer that reruns the page; once it is back the next run works without
restarting anything (pool_pre_ping replaces the dead connections). A transaction cut by
the restart leaves nothing behind, and the reconciler backs off quietly, then resumes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.models import AuditEvent, Store, StoreStatus, User
from provisioning.platform import Platform
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.fakes import FakeCluster
from tests.reliability.support import RestartablePostgres, capture_logs, wait_until
from tests.shared.apptest import APP, everything_shown, open_page, portal_navigation
from tests.shared.portal import build_platform, portal_env, set_env

pytestmark = pytest.mark.postgres

UNAVAILABLE = "The database is unavailable"
TRACE_MARKERS = ("Traceback", "OperationalError", "psycopg", "sqlalchemy", 'File "')


@pytest.fixture(autouse=True)
def through_app_py() -> Iterator[None]:
    with portal_navigation():
        yield


@pytest.fixture
def server(restartable_postgres: RestartablePostgres) -> Iterator[RestartablePostgres]:
    yield restartable_postgres
    if not restartable_postgres.running():  # a failed test must not leave it down for the next
        restartable_postgres.start()


@pytest.fixture
def portal(server: RestartablePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    set_env(monkeypatch, portal_env(tmp_path, database_url=server.new_database()))
    return build_platform(users=("alice",))


def assert_unavailable_message(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {at.exception}"
    shown = everything_shown(at)
    assert UNAVAILABLE in shown, f"{where}: {shown}"
    assert not any(marker in shown for marker in TRACE_MARKERS), f"{where} shows internals: {shown}"
    assert at.session_state["_database_retry_armed"], f"{where}: the page does not retry by itself"


def test_pages_show_a_clear_message_while_postgres_is_down_and_recover(
    portal: Platform, server: RestartablePostgres
) -> None:
    alice = portal.users.get_actor("alice")
    store = portal.stores.create_store(alice, "alices-shop")
    # Sessions open before the restart: a user on each page, and an admin.
    open_pages = {
        "my stores": open_page(portal, None, "alice"),
        "store": open_page(portal, "store", "alice", id=store.id),
        "new store": open_page(portal, "new", "alice"),
        "admin": open_page(portal, "admin", "admin"),
    }
    for where, at in open_pages.items():
        assert not at.exception and UNAVAILABLE not in everything_shown(at), where

    down_at = time.monotonic()
    server.stop()
    try:
        for where, at in open_pages.items():
            assert_unavailable_message(at.run(), where)
        anonymous = AppTest.from_file(APP, default_timeout=30).run()
        assert_unavailable_message(anonymous, "sign-in page")
        assert not anonymous.text_input, "no login form without the users table"
        with pytest.raises(DBAPIError):  # the service fails cleanly: nothing to half-write
            portal.stores.create_store(alice, "while-down")
        outage = time.monotonic() - down_at
    finally:
        server.start()

    back_at = time.monotonic()
    for where, at in open_pages.items():
        at.run()  # what the page's retry timer does
        shown = everything_shown(at)
        assert not at.exception, f"{where}: {at.exception}"
        assert UNAVAILABLE not in shown, f"{where} did not recover: {shown}"
    assert "Store alices-shop" in everything_shown(open_pages["store"])
    assert "alices-shop" in str([d.value for d in open_pages["my stores"].dataframe])
    assert open_pages["store"].session_state["actor"].username == "alice", "the restart signed nobody out"
    recovered = time.monotonic() - back_at
    assert [s.name for s in portal.stores.list_stores(alice)] == ["alices-shop"]
    print(
        f"\n5 pages rendered while PostgreSQL was down ({outage:.1f}s), all showed the message; "
        f"the 4 open ones recovered in {recovered:.1f}s"
    )


def _interrupt_commit(engine: Engine, server: RestartablePostgres) -> Callable[[], None]:
    """Stop the server just before the next COMMIT reaches it; returns the disarm function."""
    armed = {"on": True}

    def before_commit(_connection: Any) -> None:
        if armed["on"]:
            armed["on"] = False
            server.stop()  # fast shutdown: PostgreSQL aborts the open transaction

    event.listen(engine, "commit", before_commit)
    return lambda: event.remove(engine, "commit", before_commit)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        return (
            len(session.exec(select(Store.id)).all()),
            len(session.exec(select(AuditEvent.id)).all()),
            len(session.exec(select(User.id)).all()),
        )


def test_a_write_cut_by_the_restart_leaves_nothing_half_done(portal: Platform, server: RestartablePostgres) -> None:
    alice: Actor = portal.users.get_actor("alice")
    kept = portal.stores.create_store(alice, "kept-shop")
    engine = make_engine(portal.settings.database_url)
    service = StoreService(engine, portal.settings)
    before = _counts(engine)
    try:
        # A create: SELECT ... FOR UPDATE on the user, INSERT store, INSERT audit event, COMMIT.
        disarm = _interrupt_commit(engine, server)
        with pytest.raises(DBAPIError):
            service.create_store(alice, "half-shop")
        disarm()
        server.start()
        assert _counts(engine) == before, "a create cut by the restart left rows behind"

        # A delete: UPDATE store (status, active_name), INSERT audit event, COMMIT.
        disarm = _interrupt_commit(engine, server)
        with pytest.raises(DBAPIError):
            service.delete_store(alice, kept.id)
        disarm()
        server.start()
        current = service.get_store(alice, kept.id)
        assert current.status == StoreStatus.REQUESTED and current.active_name == "kept-shop"
        assert _counts(engine) == before
        # And the very next write works on the same engine (dead connections were replaced).
        service.delete_store(alice, kept.id)
        assert service.get_store(alice, kept.id).status == StoreStatus.DELETING
    finally:
        if not server.running():
            server.start()
        engine.dispose()


def test_reconciler_backs_off_quietly_while_postgres_is_down_then_resumes(
    portal: Platform, server: RestartablePostgres
) -> None:
    db = make_engine(portal.settings.database_url)
    migrate(db)
    cluster = FakeCluster()
    cluster.make_all_ready()
    settings = Settings.from_env(reconcile_interval_seconds=0.2)
    reconciler = Reconciler(db, settings, lambda: cluster, identity="pg-restart")
    passes: list[float] = []
    original = reconciler.run_once

    def counted() -> bool:
        passes.append(time.monotonic())
        return original()

    reconciler.run_once = counted  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=reconciler.run_forever, args=(stop,), name="pg-reconciler", daemon=True)
    alice = portal.users.get_actor("alice")
    try:
        with capture_logs(logging.INFO) as logs:
            thread.start()
            first = portal.stores.create_store(alice, "before-restart")
            wait_until(lambda: portal.stores.get_store(alice, first.id).status == StoreStatus.READY, timeout=30)
            down_at = time.monotonic()
            server.stop()
            time.sleep(20)
            server.start()
            up_at = time.monotonic()
            second = portal.stores.create_store(alice, "after-restart")
            wait_until(
                lambda: portal.stores.get_store(alice, second.id).status == StoreStatus.READY,
                timeout=90,
                what="the reconciler to resume after the restart",
            )
            resumed = time.monotonic() - up_at
            assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
        db.dispose()
    during = [p for p in passes if down_at <= p <= up_at]
    lines = logs.between(down_at, up_at, threads=("pg-reconciler", "reconcile", "apply"))
    print(
        f"\nreconciler with PostgreSQL down 20s: {len(during)} passes, {len(lines)} log records "
        f"({sum('Traceback' in line for line in lines)} with a traceback); resumed {resumed:.1f}s after the restart"
    )
    assert len(during) <= 12, f"{len(during)} passes in 20 s: no backoff"
    assert len(lines) <= 3, lines
