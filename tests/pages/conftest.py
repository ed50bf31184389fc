"""AppTest fixtures: the portal on a fresh SQLite database, signed in by seeding the session
(tests/shared/apptest.py). The login form itself is tested on its own in test_login.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from provisioning.actors import Actor
from provisioning.platform import Platform
from tests.shared import apptest
from tests.shared.apptest import APP, PAGES
from tests.shared.portal import build_platform, set_env
from tests.shared.portal import portal_env as environment

__all__ = ["APP", "PAGES", "actor"]


@pytest.fixture
def portal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """The portal's platform on a fresh SQLite database, with alice and bob."""
    set_env(monkeypatch, environment(tmp_path))
    return build_platform()


@pytest.fixture
def open_page(portal_env: Platform) -> Callable[..., AppTest]:
    """``open_page(page, username, **query)``: an AppTest session on that page."""

    def _open(page: str | None, username: str | None, **query: str) -> AppTest:
        return apptest.open_page(portal_env, page, username, **query)

    return _open


def actor(platform: Platform, username: str) -> Actor:
    return platform.users.get_actor(username)
