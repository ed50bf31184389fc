"""Every benchmark in one run, side by side: `python -m bench` (the CLI) and the smoke test call `run`."""

from __future__ import annotations

import os
import platform as host
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import api, report, ui
from bench.cluster import (
    ClusterHandle,
    ClusterProvider,
    apply_comparison,
    profile_one_store,
    provision,
    say,
)
from bench.floor import ready_floor
from bench.pickup import pickup
from bench.steady import steady_state
from provisioning.settings import Settings

PHASES = ("apply", "provision", "pickup", "ui", "api")
MAX_AT_ONCE = 100


@dataclass
class Config:
    sizes: list[int] = field(default_factory=lambda: [1, 20, 100])
    steady_sizes: list[int] = field(default_factory=lambda: [10, 100, 1000])
    steady_seconds: float = 60.0
    apply_stores: int = 20
    pickup_orders: int = 20  # stores ordered one at a time for the order-to-first-apply latency
    my_stores_rows: int = 1000
    admin_rows: int = 10000
    ui_runs: int = 5
    api_seconds: float = 20.0  # per credential kind
    api_clients: int = 16
    api_keepalive: bool = False  # True: one connection per client; False: a new one per call
    interval: float = field(default_factory=lambda: Settings.from_env({}).reconcile_interval_seconds)
    concurrency: int = 0  # 0: as many as the largest run, so every store is provisioned at once
    # Ours and the floor in the order A B B A (ours, floor, floor, ours), each on a fresh
    # control plane: one pair alone swung between 0.78 and 1.67 from one control plane to
    # the next; the order cancels a drift in the machine's load. 1: A B only.
    floor_rounds: int = 2
    profile: bool = True
    quick: bool = False
    phases: tuple[str, ...] = PHASES

    @classmethod
    def quick_config(cls, **overrides: Any) -> Config:
        values: dict[str, Any] = {
            "sizes": [1],
            "steady_sizes": [1, 2],
            "steady_seconds": 4.0,
            "apply_stores": 2,
            "pickup_orders": 2,
            "my_stores_rows": 50,
            "admin_rows": 200,
            "ui_runs": 2,
            "api_seconds": 2.0,
            "floor_rounds": 1,
            "quick": True,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def largest_cluster(self) -> int:
        """Stores the largest cluster phase holds at once (the kwok nodes are sized for it)."""
        return max([*self.sizes, *self.steady_sizes])

    @property
    def max_concurrent_provisioning(self) -> int:
        """Every store of a run at once, up to MAX_AT_ONCE (1,000 stores are ordered at
        once too, and then wait in the queue as a platform would make them)."""
        return self.concurrency or min(MAX_AT_ONCE, max([*self.sizes, *self.steady_sizes]))


def run(config: Config, clusters: ClusterProvider, workdir: Path, *, profile_dir: Path) -> dict[str, Any]:
    """Run the phases in `config.phases`; return the report (headline keys, targets, details)."""
    started = time.monotonic()
    load_before = os.getloadavg()
    results: dict[str, Any] = {"provisioning": {}, "steady": {}, "load_average_1m_at_start": {}}

    def mark(phase: str) -> None:
        results["load_average_1m_at_start"][phase] = round(os.getloadavg()[0], 2)

    seen: list[ClusterHandle] = []
    concurrency = config.max_concurrent_provisioning

    if "apply" in config.phases:
        with clusters("apply") as cluster:
            seen.append(cluster)
            mark("apply")
            say(f"apply: {config.apply_stores} stores x (ours, floor, parallel floor, kubectl --server-side, kubectl)")
            results["apply"] = apply_comparison(cluster, workdir, stores=config.apply_stores)

    def measure_floor(n: int, *, round_: int) -> dict[str, Any]:
        with clusters(f"floor {n} ({round_})") as floor_cluster:
            seen.append(floor_cluster)
            mark(f"floor {n} ({round_})")
            say(f"floor: the same {n} store(s) applied directly, waited for on a watch (round {round_})")
            return ready_floor(floor_cluster, workdir, stores=n)

    def provision_again(n: int) -> dict[str, Any]:
        """Ours once more, after the floors (the last A of A B B A)."""
        with clusters(f"provision {n} (again)") as cluster:
            seen.append(cluster)
            mark(f"provision {n} (again)")
            say(f"provision: {n} store(s) again, after the floor")
            again, world = provision(cluster, workdir, stores=n, interval=config.interval, concurrency=concurrency)
            world.close()
            return again

    if "provision" in config.phases:
        for n in sorted(set(config.sizes)):
            with clusters(f"provision {n}") as cluster:
                seen.append(cluster)
                mark(f"provision {n}")
                say(f"provision: {n} store(s) through the service and the reconciler (concurrency {concurrency})")
                run_result, world = provision(
                    cluster, workdir, stores=n, interval=config.interval, concurrency=concurrency
                )
                try:
                    results["provisioning"][str(n)] = run_result
                    if n == max(config.sizes):
                        floors = [measure_floor(n, round_=r) for r in range(1, config.floor_rounds + 1)]
                        results.setdefault("floor", {})[str(n)] = floors[0]
                        if config.floor_rounds > 1:
                            results.setdefault("floor_rounds", {})[str(n)] = floors
                            results.setdefault("provisioning_repeat", {})[str(n)] = provision_again(n)
                    if n in config.steady_sizes:
                        say(f"steady: {n} ready store(s), {config.steady_seconds:.0f}s")
                        results["steady"][str(n)] = steady_state(world, seconds=config.steady_seconds)
                    if config.profile and n == min(config.sizes):
                        say("profile: one more store under cProfile")
                        results["profile_provisioning"] = profile_one_store(world, profile_dir)
                finally:
                    world.close()
        for n in sorted(set(config.steady_sizes) - set(config.sizes)):
            with clusters(f"steady {n}") as cluster:
                seen.append(cluster)
                mark(f"steady {n}")
                say(f"steady: provisioning {n} store(s), then {config.steady_seconds:.0f}s with all ready")
                run_result, world = provision(
                    cluster, workdir, stores=n, interval=config.interval, concurrency=concurrency
                )
                try:
                    results.setdefault("provisioning_for_steady", {})[str(n)] = run_result
                    results["steady"][str(n)] = steady_state(world, seconds=config.steady_seconds)
                finally:
                    world.close()

    if "pickup" in config.phases:
        with clusters("pickup") as cluster:
            seen.append(cluster)
            mark("pickup")
            say(f"pickup: {config.pickup_orders} stores ordered one at a time, request to first apply")
            results["pickup"] = pickup(cluster, workdir, orders=config.pickup_orders, interval=config.interval)

    if "ui" in config.phases:
        mark("ui")
        say(f"ui: My stores with {config.my_stores_rows} stores, Admin with {config.admin_rows}")
        results["ui"] = ui.measure(
            my_stores_count=config.my_stores_rows,
            admin_count=config.admin_rows,
            runs=config.ui_runs,
            profile_dir=profile_dir if config.profile else None,
        )

    if "api" in config.phases:
        mark("api")
        say(f"api: {config.api_clients} clients x {config.api_seconds:.0f}s of GET /api/stores, token then Basic")
        results["api"] = api.measure(
            workdir / "api",
            seconds=config.api_seconds,
            clients=config.api_clients,
            keepalive=config.api_keepalive,
            say=say,
        )

    flat = report.headline(results, config)
    evaluated = report.evaluate(flat, config)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": config.quick,
        "kubernetes_version": seen[0].version if seen else "",
        "cpu_count": os.cpu_count(),
        "machine": {
            "platform": host.platform(),
            "python": sys.version.split()[0],
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "bench_seconds": round(time.monotonic() - started, 1),
        },
        "settings": {
            "max_concurrent_provisioning": concurrency,
            "reconcile_interval_seconds": config.interval,
            "kwok_nodes": seen[0].nodes if seen else 0,
            "kwok_node": asdict(seen[0].node_spec) if seen else {},
            "config": asdict(config),
        },
        **flat,
        "targets": evaluated,
        "targets_met": all(row["met"] for row in evaluated if row["met"] is not None),
        "details": results,
    }
