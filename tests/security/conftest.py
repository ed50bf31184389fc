"""Fixtures of the security tests: the portal under AppTest, routed through app.py as the
running server routes it, on a fresh SQLite database with three users and their stores;
and a stand-in for the cluster reads behind "Reveal admin password" that records calls."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioning.models import Store
from provisioning.platform import LazyClusterReader, Platform
from tests.shared.apptest import PAGES, everything_shown, open_page, portal_navigation
from tests.shared.portal import PASSWORDS, build_platform, portal_env, set_env

FAKE_ADMIN_PASSWORD = "Fake-Store-Admin-Password-0123"

__all__ = ["FAKE_ADMIN_PASSWORD", "PAGES", "PASSWORDS", "SecretReads", "everything_shown", "open_page", "secrets_of"]


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
    set_env(monkeypatch, portal_env(tmp_path))
    platform = build_platform()
    with portal_navigation():
        yield platform


def secrets_of(store: Store) -> list[str]:
    """What about a store must not reach someone who may not see it."""
    return [store.name, store.id, store.namespace, store.url, store.admin_user]
