"""AppTest helpers: the portal on a fresh SQLite database, signed in by seeding the session.

The authenticator's cookie component cannot run headless, so tests seed `actor` as the
login flow would (the login form itself is tested on its own in test_login.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from provisioning.actors import Actor
from provisioning.models import Role
from provisioning.platform import Platform
from provisioning.settings import Settings

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = {
    "stores": "pages/my_stores.py",
    "new": "pages/new_store.py",
    "store": "pages/store.py",
    "admin": "pages/admin.py",
}


@pytest.fixture
def portal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
        "ADMIN_PASSWORD": "first-admin-password",
        "COOKIE_KEY": "test-cookie-key-0123456789abcdef0123",
        "RUN_RECONCILER": "false",
        "LOCAL_SECRETS_FILE": str(tmp_path / "secrets.env"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    platform = Platform.build(Settings.from_env())
    admin = platform.users.get_actor("admin")
    platform.users.create_user(admin, "alice", "alice-password-1", role=Role.USER)
    platform.users.create_user(admin, "bob", "bob-password-12", role=Role.USER)
    return platform


@pytest.fixture
def open_page(portal_env: Platform) -> Callable[..., AppTest]:
    def _open(page: str | None, username: str | None, **query: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        if username:
            at.session_state["actor"] = portal_env.users.get_actor(username)
        at.run()
        if page is not None:
            for key, value in query.items():
                at.query_params[key] = value
            at.switch_page(PAGES[page])
            at.run()
        return at

    return _open


def actor(platform: Platform, username: str) -> Actor:
    return platform.users.get_actor(username)
