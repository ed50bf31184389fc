"""Shared fixtures, and the CI rule: a skipped test is a failure when CI=true.

Tests that need a component (control plane, PostgreSQL, Chromium) skip locally with a
reason; in CI the component must be there, so the skip is turned into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.models import Role
from provisioning.settings import Settings
from provisioning.users import UserService

pytest_plugins = ["tests.harness.pytest_plugin", "tests.postgres_plugin"]

STRICT_SKIPS = (
    os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("STORE_PLATFORM_STRICT_SKIPS") == "1"
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if STRICT_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"Skipped under CI=true, which counts as a failure: {reason}"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'test.db'}",
        "admin_password": "first-admin-password",
        "cookie_key": "test-cookie-key-0123456789abcdef0123",
        "local_secrets_file": str(tmp_path / "secrets.env"),
        "run_reconciler": False,
        "reconcile_interval_seconds": 0.05,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every database test runs on the embedded SQLite and on a real PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def users(db: Engine, settings: Settings) -> UserService:
    service = UserService(db, settings)
    service.ensure_first_admin()
    return service


@pytest.fixture
def admin(users: UserService) -> Actor:
    return users.get_actor("admin")


@pytest.fixture
def alice(users: UserService, admin: Actor) -> Actor:
    users.create_user(admin, "alice", "alice-password-1", role=Role.USER)
    return users.get_actor("alice")


@pytest.fixture
def bob(users: UserService, admin: Actor) -> Actor:
    users.create_user(admin, "bob", "bob-password-12", role=Role.USER)
    return users.get_actor("bob")
