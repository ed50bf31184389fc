"""Phase 2 of the cluster bench: a reconciler's cost while every store is ready.

What grows with the stores here is what the reconciler would pay every minute at that
size, so the window opens only once a fresh reconciler has synced its caches; the start's
LIST pages are reported apart.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cluster import BenchError, Provisioned, store_rows
from bench.querycount import count_queries
from provisioning.models import StoreStatus
from provisioning.reconciler import Reconciler
from provisioning.watch.cached_cluster import CachedCluster


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise BenchError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(0.2)


def steady_state(world: Provisioned, *, seconds: float, start_timeout: float = 300.0) -> dict[str, Any]:
    """Requests per minute of a reconciler while every store is ready.

    The reconciler is started fresh, and the window opens once its first pass is done with
    every cache synced: the LIST (in pages of 500) and WATCH per kind it makes when it starts
    grow with the stores, and are reported apart (`startup_*`), not as steady state.
    """
    rows = store_rows(world.platform, world.store_ids)
    if not all(r.status == StoreStatus.READY for r in rows):
        raise BenchError("steady state needs every store ready")
    reconciler = Reconciler(world.platform.db, world.settings, lambda: world.kube, identity="bench-steady")
    passes = 0
    run_once = reconciler.run_once

    def counted() -> bool:
        nonlocal passes
        passes += 1
        return run_once()

    reconciler.run_once = counted  # type: ignore[method-assign]
    stop = threading.Event()
    worker = threading.Thread(target=reconciler.run_forever, args=(stop,), name="bench-steady", daemon=True)
    at_start = world.kube.snapshot()
    starting = time.monotonic()
    worker.start()
    try:
        wait_until(lambda: passes >= 1 and _caches_synced(reconciler), start_timeout, "the reconciler's caches")
    except BenchError:
        stop.set()
        raise
    startup_s = time.monotonic() - starting
    passes = 0
    before = world.kube.snapshot()
    startup = before.since(at_start)
    with count_queries() as statements:
        started, cpu_started, harness_before = time.monotonic(), time.process_time(), harness_cpu_seconds()
        stop.wait(seconds)
        rss_mb = resident_mb()  # with the caches full: every watched object of every store
        stop.set()
        worker.join(timeout=60)
        elapsed = time.monotonic() - started
        harness = sum(seconds - harness_before.get(tid, 0.0) for tid, seconds in harness_cpu_seconds().items())
        cpu = time.process_time() - cpu_started - harness
    trace = world.kube.snapshot().since(before)
    return {
        "stores": len(rows),
        "seconds": round(elapsed, 1),
        "reconcile_interval_seconds": world.settings.reconcile_interval_seconds,
        "passes": passes,
        "requests": trace.total,
        "requests_per_min": round(60 * trace.total / elapsed, 1),
        "requests_by_kind": dict(trace.counts),
        "startup_s": round(startup_s, 1),
        "startup_requests": startup.total,
        "startup_requests_by_kind": dict(startup.counts),
        "db_statements_per_pass": round(len(statements) / max(1, passes), 1),
        # The bench process hosts the reconciler; the test harness's threads (its fake volume
        # provisioner lists every claim each second) are subtracted (harness_cpu_seconds).
        "reconciler_rss_mb": round(rss_mb, 1),
        "reconciler_cpu_s_per_min": round(60 * cpu / elapsed, 2),
    }


def _caches_synced(reconciler: Reconciler) -> bool:
    cluster = reconciler.cluster
    return isinstance(cluster, CachedCluster) and all(i.synced for i in cluster.informers.values())


HARNESS_THREADS = ("fake-provisioner", "controlplane-logs")


def harness_cpu_seconds() -> dict[int, float]:
    """CPU seconds used so far by each of the harness's own threads in this process (not the
    product's): with 100 stores its fake provisioner alone took about 15 s a minute."""
    used: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for thread in threading.enumerate():
        if thread.name.startswith(HARNESS_THREADS) and thread.native_id is not None:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
                used[thread.native_id] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


def resident_mb() -> float:
    """This process's resident memory now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
