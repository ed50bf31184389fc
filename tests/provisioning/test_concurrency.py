"""Limits that must hold under concurrent requests, enforced by the database itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.errors import LimitExceededError, NameTakenError, StorePlatformError
from provisioning.models import Role
from provisioning.service import StoreService
from provisioning.users import UserService
from tests.conftest import make_settings


def race(count: int, action: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    """Run `action(i)` in `count` threads released at the same instant."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            value = action(i)
            with lock:
                results.append(value)
        except BaseException as error:
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


@pytest.fixture
def pg(postgres_url: str) -> Engine:
    engine = make_engine(postgres_url, pool_size=25, max_overflow=5)
    migrate(engine)
    return engine


def _user(db: Engine, settings_path: Path, username: str, **overrides: object) -> tuple[StoreService, Actor]:
    settings = make_settings(settings_path, database_url=str(db.url.render_as_string(hide_password=False)), **overrides)
    users = UserService(db, settings)
    users.ensure_first_admin()
    admin = users.get_actor("admin")
    users.create_user(admin, username, f"{username}-password-1", role=Role.USER)
    return StoreService(db, settings), users.get_actor(username)


@pytest.mark.postgres
def test_twenty_concurrent_creates_of_one_name_make_exactly_one_store(pg: Engine, tmp_path: Path) -> None:
    service, alice = _user(pg, tmp_path, "alice", max_stores_per_user=50, max_creates_per_hour=50)
    results, errors = race(20, lambda _i: service.create_store(alice, "same-name"))
    assert len(results) == 1
    assert len(errors) == 19
    assert all(isinstance(e, NameTakenError) for e in errors), errors
    assert [s.name for s in service.list_stores(alice)] == ["same-name"]


@pytest.mark.postgres
def test_user_limited_to_three_firing_ten_creates_gets_exactly_three(pg: Engine, tmp_path: Path) -> None:
    service, alice = _user(pg, tmp_path, "alice", max_stores_per_user=3, max_creates_per_hour=50)
    results, errors = race(10, lambda i: service.create_store(alice, f"shop-{i}"))
    assert len(results) == 3
    assert len(errors) == 7 and all(isinstance(e, LimitExceededError) for e in errors), errors
    assert service.usage(alice).used == 3


@pytest.mark.postgres
def test_rate_limit_holds_under_concurrency(pg: Engine, tmp_path: Path) -> None:
    service, alice = _user(pg, tmp_path, "alice", max_stores_per_user=50, max_creates_per_hour=4)
    results, errors = race(10, lambda i: service.create_store(alice, f"shop-{i}"))
    assert len(results) == 4
    assert all(isinstance(e, StorePlatformError) and "per hour" in str(e) for e in errors), errors


def test_sqlite_serialises_concurrent_creates_too(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = make_engine(settings.database_url)
    migrate(db)
    service, alice = _user(db, tmp_path, "alice", max_stores_per_user=3, max_creates_per_hour=50)
    results, errors = race(10, lambda i: service.create_store(alice, f"shop-{i}"))
    assert len(results) == 3
    assert all(isinstance(e, LimitExceededError) for e in errors), errors
