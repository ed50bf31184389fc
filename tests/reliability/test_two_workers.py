"""Two worker processes started at the same moment: only one reconciles at a time.

The database lease decides. While both live, the lease holder never changes and every
store action is logged by that worker only; when the leader stops cleanly it releases the
lease and the other takes over within a pass or two (not after the 15 s TTL).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.models import StoreStatus
from tests.reliability.support import StorePlatform, WorkerProcess, wait_until, worker_env

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

STORE_ACTION = re.compile(r"store (\w+): store\.(ready|failed|deleted)")


@pytest.fixture
def two_workers(pg_platform: StorePlatform, tmp_path: Path, control_plane: Any) -> Iterator[list[WorkerProcess]]:
    env = worker_env(pg_platform.settings.database_url, control_plane.kubeconfig, tmp_path)
    workers = [WorkerProcess(env, tmp_path / f"worker-{i}.log") for i in (1, 2)]
    try:
        for worker in workers:  # back to back: both race for the lease from their first pass
            worker.start()
        yield workers
    finally:
        for worker in workers:
            worker.stop(timeout=15)


class LeaseWatcher:
    """Samples the lease holder every 50 ms in a thread."""

    def __init__(self, platform: StorePlatform) -> None:
        self.platform = platform
        self.samples: list[tuple[float, str]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lease-watcher", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            lease = self.platform.lease()
            if lease is not None and lease[0]:
                self.samples.append((time.monotonic(), lease[0]))
            time.sleep(0.05)

    def __enter__(self) -> LeaseWatcher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def holders(self) -> list[str]:
        """Distinct holders in the order they first held the lease."""
        seen: list[str] = []
        for _, holder in self.samples:
            if not seen or seen[-1] != holder:
                seen.append(holder)
        return seen


def test_two_workers_started_at_once_only_one_reconciles(
    pg_platform: StorePlatform, two_workers: list[WorkerProcess]
) -> None:
    platform = pg_platform
    with LeaseWatcher(platform) as watcher:
        wait_until(lambda: watcher.samples, timeout=60, what="a worker to take the lease")
        stores = [platform.create(f"duo{i}") for i in range(3)]
        wait_until(
            lambda: all(platform.store(s.id).status == StoreStatus.READY for s in stores),
            timeout=150,
            what="three stores to be ready",
        )
        assert all(worker.alive() for worker in two_workers)
        holders_while_both_lived = watcher.holders()

        leader = next(w for w in two_workers if w.holds(holders_while_both_lived[0]))
        standby = next(w for w in two_workers if w is not leader)
        stopped_at = time.monotonic()
        leader.stop()
        wait_until(
            lambda: (lease := platform.lease()) is not None and standby.holds(lease[0]),
            timeout=30,
            interval=0.05,
            what="the standby to take over",
        )
        handoff = time.monotonic() - stopped_at
        later = platform.create("duo-after")
        platform.wait_status(later.id, StoreStatus.READY, what="a store to be ready under the standby")

    assert len(holders_while_both_lived) == 1, f"the lease changed hands while both lived: {holders_while_both_lived}"
    # Every store action of the first three stores is in the leader's log, none in the
    # standby's; the standby's only action is the store ordered after the hand-off.
    assert sorted(STORE_ACTION.findall(leader.text())) == sorted((s.id, "ready") for s in stores), leader.text()[-3000:]
    assert STORE_ACTION.findall(standby.text()) == [(later.id, "ready")], standby.text()[-3000:]
    for store in stores:
        assert platform.actions(store.id) == ["store.create", "store.provisioning", "store.ready"]
    assert platform.actions(later.id) == ["store.create", "store.provisioning", "store.ready"]
    print(
        f"\ntwo workers: {len(watcher.samples)} lease samples, holders while both lived: {holders_while_both_lived};"
        f" hand-off after a clean stop of the leader: {handoff:.1f}s"
    )
    assert handoff < 10, f"hand-off took {handoff:.1f}s: the lease was not released on SIGTERM"
