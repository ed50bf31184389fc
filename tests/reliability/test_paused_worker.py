"""A worker paused (SIGSTOP) in the middle of a pass, past its lease: when it resumes, its
late writes are refused and the new leader's work stands.

Real `python -m provisioning.worker` processes on PostgreSQL and the real control plane.
To pause worker A *inside* a pass, the API server is paused first: A's next pass blocks on
its first request (the store is mid-provisioning, so every pass asks the API), and A is
stopped there. Worker B takes the lease once A's expires and finishes the store. Then A
continues: its pending request completes, and the writes that follow (the step's result,
or the banner's "unreachable" if the request timed out) meet the lease fence.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.models import StoreStatus
from tests.reliability.support import StorePlatform, WorkerProcess, worker_env
from tests.shared.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

# The reconciler's interval in these tests is 0.2 s: paused for 2 s, the API server has let
# ten passes start and block on their first request, so the worker is inside one.
API_PAUSE_SECONDS = 2.0


@pytest.fixture
def workers(pg_platform: StorePlatform, tmp_path: Path, control_plane: Any) -> Iterator[list[WorkerProcess]]:
    # Readiness by GETs: every pass asks the API, so a pass is what the paused API server
    # holds (with the watch caches a pass reads memory and would rarely be caught mid-pass).
    env = worker_env(pg_platform.settings.database_url, control_plane.kubeconfig, tmp_path, WATCH_CLUSTER="false")
    started = [WorkerProcess(env, tmp_path / f"worker-{name}.log") for name in ("a", "b")]
    yield started
    for worker in started:
        if worker.alive():
            os.kill(worker.pid, signal.SIGCONT)
        worker.stop(timeout=15)


def holder_is(platform: StorePlatform, worker: WorkerProcess) -> bool:
    lease = platform.lease()
    return lease is not None and worker.holds(lease[0])


def test_a_worker_paused_mid_pass_past_its_lease_cannot_write_when_it_resumes(
    pg_platform: StorePlatform, workers: list[WorkerProcess], control_plane: Any
) -> None:
    a, b = workers
    platform = pg_platform
    control_plane.pause("kube-scheduler")  # keeps the store provisioning: every pass asks the API
    try:
        a.start()
        wait_for(lambda: holder_is(platform, a), timeout=60, what="worker A to take the lease")
        store = platform.create("paused")
        wait_for(
            lambda: platform.store(store.id).applied_at is not None,
            timeout=60,
            what="worker A to apply the store",
        )
        control_plane.pause("kube-apiserver")
        try:
            time.sleep(API_PAUSE_SECONDS)  # no observable "blocked in a request": see the constant
            os.kill(a.pid, signal.SIGSTOP)
        finally:
            control_plane.resume("kube-apiserver")
    finally:
        control_plane.resume("kube-scheduler")

    paused_at = time.monotonic()
    b.start()
    wait_for(lambda: holder_is(platform, b), timeout=90, what="worker B to take over from the paused A")
    took_over = time.monotonic() - paused_at
    final = wait_for(
        lambda: s if (s := platform.store(store.id)).status == StoreStatus.READY else None,
        timeout=120,
        what="worker B to finish the store",
    )
    assert f"store {store.id}: store.ready" in b.text()
    actions = platform.actions(store.id)
    banner = platform.stores.cluster_status()
    assert banner is not None and banner.reachable

    os.kill(a.pid, signal.SIGCONT)
    wait_for(lambda: "lost its lease" in a.text(), timeout=60, what="worker A to find its lease gone")
    # What A computed in the paused pass was refused: nothing of B's is undone.
    after = platform.store(store.id)
    assert (after.status, after.message, after.ready_at) == (final.status, final.message, final.ready_at)
    assert platform.actions(store.id) == actions
    banner = platform.stores.cluster_status()
    assert banner is not None and banner.reachable, "the deposed worker overwrote the cluster banner"
    assert not re.search(rf"store {store.id}: store\.", a.text().split("lost its lease")[-1])
    assert a.alive() and holder_is(platform, b), "A went back to standby; B still leads"
    print(f"[reliability] paused worker: B took over {took_over:.1f}s after the pause")
