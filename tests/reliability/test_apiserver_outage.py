"""The Kubernetes API server stopped (SIGSTOP) for 30 s while a store is provisioning.

SIGSTOP is the nasty kind of outage: the port still accepts TCP connections (the kernel's
backlog) but nothing answers, so every request hangs until its timeout, and an open watch
just falls silent. The reconciler must notice it (its probe), back off instead of spinning,
keep its log short, record the outage in the cluster_status row (which the portal's
banner shows, without any Kubernetes call), and finish the store once the API server is
back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from provisioning.models import ClusterStatus, StoreStatus
from provisioning.reconciler import Reconciler
from tests.reliability.support import StorePlatform, capture_logs, wait_until
from tests.shared.apptest import open_page
from tests.shared.portal import portal_env as environment
from tests.shared.portal import set_env

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

OUTAGE_SECONDS = 30


class CountingReconciler(Reconciler):
    """The real reconciler, noting when each pass started and ended, and its result."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes: list[tuple[float, float, bool | None]] = []

    def run_once(self) -> bool:
        started = time.monotonic()
        result: bool | None = None
        try:
            result = super().run_once()
            return result
        finally:
            self.passes.append((started, time.monotonic(), result))


@pytest.fixture
def portal_env(pg_platform: StorePlatform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Environment for the portal under AppTest: the same database, no reconciler thread."""
    env = environment(tmp_path, database_url=pg_platform.settings.database_url)
    set_env(monkeypatch, env | {"LOCAL_SECRETS_FILE": str(tmp_path / "portal-secrets.env")})


def cluster_status(platform: StorePlatform) -> ClusterStatus | None:
    with Session(platform.db) as session:
        return session.get(ClusterStatus, 1)


def render_as(platform: StorePlatform, username: str) -> AppTest:
    return open_page(platform, None, username)


@pytest.fixture
def reconciler_thread(pg_platform: StorePlatform) -> Iterator[Callable[[], CountingReconciler]]:
    with contextlib.ExitStack() as running:

        def start() -> CountingReconciler:
            return running.enter_context(pg_platform.reconciling("outage-reconciler", cls=CountingReconciler))

        yield start


def test_apiserver_outage_backs_off_shows_banner_then_finishes(
    pg_platform: StorePlatform,
    control_plane: Any,
    portal_env: None,
    reconciler_thread: Callable[[], CountingReconciler],
) -> None:
    platform = pg_platform
    paused: list[str] = []
    try:
        with capture_logs(logging.INFO) as logs:
            control_plane.pause("kube-scheduler")  # keep the store mid-provisioning
            paused.append("kube-scheduler")
            store = platform.create("outage")
            reconciler = reconciler_thread()
            wait_until(
                lambda: (
                    platform.store(store.id).applied_at is not None
                    and any(c["status"] == "True" for c in platform.store(store.id).conditions)
                ),
                timeout=60,
                what="the store to be mid-provisioning",
            )
            status = cluster_status(platform)
            assert status is not None and status.reachable

            control_plane.pause("kube-apiserver")
            paused.append("kube-apiserver")
            outage_start = time.monotonic()
            detected_after = None
            page: AppTest | None = None
            while time.monotonic() - outage_start < OUTAGE_SECONDS:
                status = cluster_status(platform)
                if detected_after is None and status is not None and not status.reachable:
                    detected_after = time.monotonic() - outage_start
                    page = render_as(platform, "alice")  # the banner, while the API server is still down
                    page_rendered_after = time.monotonic() - outage_start
                time.sleep(0.25)
            status_at_end = cluster_status(platform)
            control_plane.resume("kube-apiserver")
            paused.remove("kube-apiserver")
            outage_end = time.monotonic()
            control_plane.resume("kube-scheduler")
            paused.remove("kube-scheduler")

            platform.wait_status(store.id, StoreStatus.READY, StoreStatus.FAILED, what="the store to finish")
            ready_after = time.monotonic() - outage_end
    finally:
        for component in reversed(paused):
            control_plane.resume(component)

    passes = [p for p in reconciler.passes if p[0] < outage_end and p[1] > outage_start]
    # The reconciler's own lines: its loop thread and its pools ("reconcile_N", "apply_N").
    lines = logs.between(outage_start, outage_end, threads=("outage-reconciler", "reconcile", "apply"))
    noticed = "never" if detected_after is None else f"after {detected_after:.1f}s"
    print(
        f"\nAPI server stopped {OUTAGE_SECONDS}s: outage noticed {noticed}; "
        f"{len(passes)} reconciler passes overlapped it; {len(lines)} reconciler log lines (INFO+) during it:\n"
        + "\n".join(lines)
        + f"\nstore ready {ready_after:.1f}s after the API server resumed"
    )

    # The outage is noticed while it lasts, and the banner shows it (no Kubernetes call from the page).
    assert detected_after is not None and detected_after < OUTAGE_SECONDS - 5, detected_after
    assert status_at_end is not None and not status_at_end.reachable
    assert page is not None and page_rendered_after < OUTAGE_SECONDS
    assert not page.exception, page.exception
    banner = [w.value for w in page.warning]
    assert any("Kubernetes cluster unreachable" in w for w in banner), banner
    assert not page.error, [e.value for e in page.error]

    # Backoff, not a tight loop, once the outage is noticed: a 0.2 s interval would allow ~150
    # passes in 30 s. Before that (up to one probe interval, 15 s) passes read readiness from
    # the watch caches, which send nothing to the stopped server, so they may run at the interval.
    assert passes
    assert detected_after is not None
    after_noticed = [p for p in passes if p[0] > outage_start + detected_after]
    assert len(after_noticed) <= 10, after_noticed
    # Bounded log volume: a warning on the first failure (then one per 10 in a row).
    assert len(lines) <= 5, lines
    assert not any("Traceback" in line for line in lines)

    # Then it finishes, and the banner clears.
    final = platform.store(store.id)
    assert final.status == StoreStatus.READY, final.message
    assert platform.actions(store.id) == ["store.create", "store.provisioning", "store.ready"]
    recovered = cluster_status(platform)
    assert recovered is not None and recovered.reachable
    after = render_as(platform, "alice")
    assert not after.exception
    assert not any("unreachable" in w.value for w in after.warning)
