"""The cluster's own floor for N stores ordered at once: what no portal could beat.

The same rendered objects as the reconciler applies (`rendered`), applied directly in the
reconciler's dependency waves on a thread pool of its size (APPLY_PARALLELISM), and then
the wait for the same readiness conditions (`Engine.checks`, read through the same
watch-fed cache, woken by its events): no database, no service, no reconciler passes. What
remains is the API server, the controllers, the scheduler and kwok doing the work.
`ready_vs_cluster_floor_<N>` is the product's time to all-ready over this one's.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.cluster import (
    ENGINE,
    BenchError,
    ClusterHandle,
    apply_in_waves,
    bench_settings,
    bench_spec,
    connect,
    rendered,
)
from provisioning.engines import get_engine
from provisioning.reconciler import APPLY_PARALLELISM
from provisioning.watch.cached_cluster import CachedCluster


def ready_floor(handle: ClusterHandle, workdir: Path, *, stores: int, timeout: float = 900) -> dict[str, Any]:
    settings = bench_settings(workdir, f"floor-{stores}")
    kube = connect(handle, settings)
    woken = threading.Event()
    cache = CachedCluster(kube, on_change=woken.set).start()  # running before the orders, like the reconciler
    tag = uuid.uuid4().hex[:4]
    specs = [bench_spec(f"floor-{tag}-{index}") for index in range(stores)]
    handle.namespaces += [spec.namespace for spec in specs]
    objects = {spec.id: rendered(spec, settings) for spec in specs}
    checks = {spec.id: get_engine(ENGINE).checks(spec) for spec in specs}
    before = kube.snapshot()
    pool = ThreadPoolExecutor(max_workers=APPLY_PARALLELISM)
    stores_pool = ThreadPoolExecutor(max_workers=stores)
    try:
        started = time.monotonic()
        for future in [stores_pool.submit(apply_in_waves, cache, pool, objects[s.id]) for s in specs]:
            future.result()
        applied = time.monotonic() - started
        waiting = {spec.id: spec for spec in specs}
        while waiting:
            woken.clear()
            for store_id, spec in list(waiting.items()):
                if all(cache.observe(spec.namespace, check).ready for check in checks[store_id]):
                    del waiting[store_id]
            if time.monotonic() - started > timeout:
                raise BenchError(f"floor: {len(waiting)} of {stores} stores not ready after {timeout:.0f}s")
            if waiting:
                woken.wait(1.0)
        ready = time.monotonic() - started
    finally:
        pool.shutdown()
        stores_pool.shutdown()
        cache.stop()
        kube.api.close()
    trace = kube.snapshot().since(before)
    return {
        "stores": stores,
        "total_to_accepted_s": round(applied, 2),
        "total_to_ready_s": round(ready, 2),
        "requests_per_store": round(trace.total / stores, 1),
        "fallback_reads": cache.fallbacks,
    }
