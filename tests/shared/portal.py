"""One portal environment builder and one "create users" helper.

Every test that runs the portal (AppTest pages, the real server process, the browser,
the reliability and security tests) builds its environment with ``portal_env`` and its
users with ``create_users``, so credentials, cookie key and file locations are the same
everywhere and a new setting is added in one place.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from provisioning.actors import Actor
from provisioning.models import Role
from provisioning.operations.store_reads import ClusterReader
from provisioning.platform import Platform
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.shared.sqlite_template import migrated_sqlite_url

ROOT = Path(__file__).resolve().parents[2]
# The first admin's password (ADMIN_PASSWORD) and the two users every test may sign in as.
PASSWORDS = {"admin": "first-admin-password", "alice": "alice-password-1", "bob": "bob-password-12"}
ADMIN_PASSWORD = PASSWORDS["admin"]
COOKIE_KEY = "test-cookie-key-0123456789abcdef0123"


def unique(prefix: str) -> str:
    """A store name unique per call: tests never collide on the shared cluster or database."""
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for one test: SQLite in ``tmp_path``, known credentials, no reconciler thread."""
    values: dict[str, object] = {
        "database_url": overrides.pop("database_url", None) or migrated_sqlite_url(tmp_path / "test.db"),
        "admin_password": ADMIN_PASSWORD,
        "cookie_key": COOKIE_KEY,
        "local_secrets_file": str(tmp_path / "secrets.env"),
        "run_reconciler": False,
        "reconcile_interval_seconds": 0.05,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


def portal_env(
    workdir: Path,
    *,
    database_url: str | None = None,
    kubeconfig: Path | str | None = None,
    reconciler: bool | None = False,
    inherit: bool = False,
    **extra: str,
) -> dict[str, str]:
    """The environment the portal (or worker) reads its settings from.

    - ``database_url``: default a fresh SQLite file in ``workdir``;
    - ``kubeconfig``: the cluster to use; default a path that does not exist, so nothing
      ever reaches the developer's own cluster;
    - ``reconciler``: run the reconciler thread in the portal process (None: the
      portal's default, as ``make run`` starts it);
    - ``inherit``: start from ``os.environ`` (for a subprocess: PATH, HOME, ...);
    - ``extra``: more variables, e.g. ``MAX_STORES_PER_USER="2"``.
    """
    env = dict(os.environ) if inherit else {}
    env.update(
        {
            "DATABASE_URL": database_url or migrated_sqlite_url(workdir / "portal.db"),
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "COOKIE_KEY": COOKIE_KEY,
            "LOCAL_SECRETS_FILE": str(workdir / "secrets.env"),
            "KUBECONFIG": str(kubeconfig or workdir / "no-kubeconfig"),
        }
    )
    if reconciler is not None:
        env["RUN_RECONCILER"] = "true" if reconciler else "false"
    if kubeconfig is not None:
        env["KUBE_CONTEXT"] = ""  # the kubeconfig's current context
    env.update(extra)
    return env


def set_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> None:
    """Put ``env`` into this process's environment for one test (AppTest reads it there)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def create_users(users: UserService, *names: str, role: Role = Role.USER) -> dict[str, Actor]:
    """Create each user (password from PASSWORDS, else ``<name>-password-1``) as the admin."""
    admin = users.get_actor("admin")
    actors: dict[str, Actor] = {}
    for name in names:
        users.create_user(admin, name, PASSWORDS.get(name, f"{name}-password-1"), role=role)
        actors[name] = users.get_actor(name)
    return actors


def build_platform(
    env: Mapping[str, str] | None = None,
    *,
    users: tuple[str, ...] = ("alice", "bob"),
    secrets: ClusterReader | None = None,
) -> Platform:
    """The portal's own wiring (``Platform.build``) from ``env`` (default ``os.environ``),
    with the first admin and ``users`` created. The caller disposes ``platform.db``."""
    platform = Platform.build(Settings.from_env(env), secrets=secrets)
    create_users(platform.users, *users)
    return platform
