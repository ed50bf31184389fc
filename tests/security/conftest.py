"""Fixtures of the security tests: the portal under AppTest, routed through app.py as the
running server routes it, on a fresh SQLite database with three users and their stores;
and a stand-in for the cluster reads behind "Reveal admin password" that records calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from provisioning.models import Role, Store
from provisioning.platform import LazyClusterReader, Platform
from provisioning.settings import Settings
from tests.reliability.support import COOKIE_KEY, ROOT, StorePlatform, portal_navigation

PASSWORDS = {"admin": "first-admin-password", "alice": "alice-password-1", "bob": "bob-password-12"}
PAGES = {
    "stores": "pages/my_stores.py",
    "new": "pages/new_store.py",
    "store": "pages/store.py",
    "admin": "pages/admin.py",
}
FAKE_ADMIN_PASSWORD = "Fake-Store-Admin-Password-0123"


@dataclass
class SecretReads:
    """Every read of a store Secret the portal made: (namespace, name, key)."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)


@pytest.fixture
def secret_reads(monkeypatch: pytest.MonkeyPatch) -> SecretReads:
    reads = SecretReads()

    def read_secret_value(_self: LazyClusterReader, namespace: str, name: str, key: str) -> str:
        reads.calls.append((namespace, name, key))
        return FAKE_ADMIN_PASSWORD

    monkeypatch.setattr(LazyClusterReader, "read_secret_value", read_secret_value)
    return reads


@pytest.fixture
def portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
        "ADMIN_PASSWORD": PASSWORDS["admin"],
        "COOKIE_KEY": COOKIE_KEY,
        "RUN_RECONCILER": "false",
        "LOCAL_SECRETS_FILE": str(tmp_path / "secrets.env"),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    platform = Platform.build(Settings.from_env())
    admin = platform.users.get_actor("admin")
    for name in ("alice", "bob"):
        platform.users.create_user(admin, name, PASSWORDS[name], role=Role.USER)
    with portal_navigation():
        yield platform


def open_page(platform: Platform, page: str | None, username: str | None, **query: str) -> AppTest:
    """A session signed in as `username` (None: anonymous) on `page` with `query`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    if username:
        at.session_state["actor"] = platform.users.get_actor(username)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(PAGES[page])
        at.run()
    return at


def everything_shown(at: AppTest) -> str:
    """All text a user could read on the page (main area and sidebar), including tables."""
    parts: list[str] = []
    for kind in ("markdown", "title", "header", "subheader", "caption", "error", "warning", "info", "success", "code"):
        parts += [str(e.value) for e in at.get(kind)]
        parts += [str(e.value) for e in at.sidebar.get(kind)]
    parts += [e.value.to_csv() for e in at.dataframe]
    parts += [str(e.label) for e in at.button] + [str(e.label) for e in at.text_input]
    parts += [str(e.proto) for e in at.get("expandable")]
    parts += [str(e.value) for e in at.exception]
    return "\n".join(parts)


def secrets_of(store: Store) -> list[str]:
    """What about a store must not reach someone who may not see it."""
    return [store.name, store.id, store.namespace, store.url, store.admin_user]


@pytest.fixture
def pg_platform(tmp_path: Path, postgres_url: str, control_plane: Any) -> Iterator[StorePlatform]:
    """Services on a fresh PostgreSQL database and the session's real control plane."""
    platform = StorePlatform(tmp_path, postgres_url, control_plane.kubeconfig)
    try:
        yield platform
    finally:
        platform.cleanup()
