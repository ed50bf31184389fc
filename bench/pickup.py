"""How fast an order starts work: one store at a time, request to its Namespace applied.

The reconciler runs at its default interval (as `make bench` configures it) in a thread,
as in the portal's local mode; each order goes through `StoreService.create_store`, whose
wake-up (provisioning/lifecycle/wakeup.py) should start a pass at once instead of at the
next interval. Measured per order: wall time from just before the request to the moment
the API server accepted the store's first object (its Namespace). The next order goes in
once the store is ready and the reconciler between passes: "one store" at a time.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bench.cluster import BenchError, ClusterHandle, bench_settings, connect
from bench.stats import summary
from provisioning.engines.base import Manifest
from provisioning.models import Role, Store, StoreStatus
from provisioning.platform import Platform
from provisioning.reconciler import Reconciler


def pickup(
    handle: ClusterHandle,
    workdir: Path,
    *,
    orders: int,
    interval: float,
    timeout: float = 30,
    ready_timeout: float = 300,
) -> dict[str, Any]:
    """Order `orders` stores one after the other; the latency of each to its first apply."""
    tag = uuid.uuid4().hex[:4]
    settings = bench_settings(
        workdir, f"pickup-{tag}", reconcile_interval_seconds=interval, max_concurrent_provisioning=max(orders, 1)
    )
    kube = connect(handle, settings)
    platform = Platform.build(settings, secrets=kube)
    admin = platform.users.get_actor(settings.admin_username)
    platform.users.create_user(admin, "bench", "bench-user-password", role=Role.USER)
    actor = platform.users.get_actor("bench")

    first_applied: dict[str, tuple[float, int]] = {}  # namespace -> (when accepted, passes finished by then)
    changed = threading.Condition()  # a Namespace accepted, or a pass finished
    passes = 0
    apply = kube.apply

    def timed_apply(manifest: Manifest) -> Any:
        result = apply(manifest)
        if manifest["kind"] == "Namespace":
            with changed:
                first_applied.setdefault(manifest["metadata"]["name"], (time.monotonic(), passes))
                changed.notify_all()
        return result

    kube.apply = timed_apply  # type: ignore[method-assign]
    reconciler = Reconciler(platform.db, settings, lambda: kube, identity=f"bench-pickup-{tag}")
    first_pass = threading.Event()
    run_once = reconciler.run_once

    def counted() -> bool:
        nonlocal passes
        try:
            return run_once()
        finally:
            with changed:
                passes += 1
                changed.notify_all()
            first_pass.set()

    reconciler.run_once = counted  # type: ignore[method-assign]
    stop = threading.Event()
    worker = threading.Thread(target=reconciler.run_forever, args=(stop,), name="bench-pickup", daemon=True)
    worker.start()
    first_pass.wait(60)  # a reconciler already running and idle, as in production
    latencies_ms: list[float] = []
    try:
        for index in range(orders):
            started = time.monotonic()
            store = platform.stores.create_store(actor, f"pick-{tag}-{index}")
            handle.namespaces.append(store.namespace)
            namespace = store.namespace
            with changed:
                if not changed.wait_for(lambda ns=namespace: ns in first_applied, timeout=timeout):
                    raise BenchError(f"order {index + 1} was not applied within {timeout:.0f}s")
                latencies_ms.append(1000 * (first_applied[namespace][0] - started))
            # One store at a time: the next order waits until this one is ready and the
            # pass that found it so is over (the reconciler idle, as for a lone order).
            deadline = time.monotonic() + ready_timeout
            while _status(platform, store.id) != StoreStatus.READY:
                if time.monotonic() > deadline:
                    raise BenchError(f"order {index + 1} not ready after {ready_timeout:.0f}s")
                time.sleep(0.05)
            with changed:
                at_ready = passes
                changed.wait_for(lambda before=at_ready: passes > before, timeout=timeout)
    finally:
        stop.set()
        worker.join(timeout=60)
        kube.api.close()
        platform.db.dispose()
    return {
        "orders": orders,
        "reconcile_interval_seconds": interval,
        "pickup_ms": summary(latencies_ms),
        "reconciler_passes": passes,
    }


def _status(platform: Platform, store_id: str) -> str:
    with Session(platform.db) as session:
        store = session.get(Store, store_id)
        return store.status if store else ""
