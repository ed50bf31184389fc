"""The store page's "Container logs" panel: nothing is read until asked, then one container
at a time, with the reason where a container has no log, and a download."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from provisioning.operations.store_logs import SIMULATED, ContainerLog
from provisioning.platform import LazyClusterReader, Platform
from tests.pages.conftest import actor

LOGS = [
    ContainerLog("setup-x", "store-setup", text="store-setup: store is set up\n"),
    ContainerLog("web-1", "wordpress", unavailable=SIMULATED),
]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []

    def store_logs(_self: LazyClusterReader, namespace: str, *, tail_lines: int) -> list[ContainerLog]:
        calls.append((namespace, tail_lines))
        return LOGS

    monkeypatch.setattr(LazyClusterReader, "store_logs", store_logs)
    return calls


def test_logs_are_read_on_request_then_shown_per_container(
    portal_env: Platform, open_page: Callable[..., AppTest], reads: list[tuple[str, int]]
) -> None:
    store = portal_env.stores.create_store(actor(portal_env, "alice"), "log-shop")
    page = open_page("store", "alice", id=store.id)
    assert not page.exception
    assert reads == [], "the page read logs before anyone asked"
    page.button(key="load_logs").click().run()
    assert reads == [(store.namespace, 200)]
    assert [c.value.strip() for c in page.code if "store-setup" in c.value] == ["store-setup: store is set up"]
    page.selectbox(key=f"logs_container:{store.id}").select("web-1 / wordpress").run()
    assert any(SIMULATED in i.value for i in page.info), [i.value for i in page.info]
    assert reads == [(store.namespace, 200)], "choosing a container must not read again"


def test_a_cluster_error_is_a_message_not_a_trace(
    portal_env: Platform, open_page: Callable[..., AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioning.errors import ClusterUnavailableError

    def unreachable(_self: LazyClusterReader, namespace: str, *, tail_lines: int) -> list[ContainerLog]:
        raise ClusterUnavailableError("The Kubernetes API at https://x is unreachable (connection refused).")

    monkeypatch.setattr(LazyClusterReader, "store_logs", unreachable)
    store = portal_env.stores.create_store(actor(portal_env, "alice"), "err-shop")
    page = open_page("store", "alice", id=store.id)
    page.button(key="load_logs").click().run()
    assert not page.exception
    assert any("cannot be reached" in w.value for w in page.warning), [w.value for w in page.warning]
