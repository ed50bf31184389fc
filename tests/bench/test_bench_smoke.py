"""Every benchmark at tiny size on the session's control plane, so `make bench` cannot rot.

The real numbers come from `make bench` (docs/performance.md); this only proves each phase
still runs end to end through the product's code and reports every number it promises.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.cluster import shared_cluster
from bench.run import Config, run
from provisioning.kube import RESOURCES
from provisioning.watch.cached_cluster import WATCHED

pytestmark = pytest.mark.cluster

# Requests a reconciler may make while every store is ready: the version probe, the node
# list that comes with it, the drift check's namespace LIST, and a watch renewed when the
# server ends it. Never a request per store.
WATCHED_PLURALS = {RESOURCES[(api_version, kind)][0] for kind, (api_version, *_) in WATCHED.items()}
STEADY_REQUESTS = {"GET /version", "GET nodes", "GET namespaces"} | {f"WATCH {p}" for p in WATCHED_PLURALS}
# ...and, once when it starts (before the window), a LIST and a WATCH per kind its readiness
# caches follow, besides its first probe and drift check.
ONCE_AT_START = {f"GET {p}" for p in WATCHED_PLURALS - {"namespaces"}} | {f"WATCH {p}" for p in WATCHED_PLURALS}


def test_every_benchmark_runs_at_tiny_size_and_reports_every_key(control_plane: Any, tmp_path: Path) -> None:
    config = Config.quick_config(
        # 20 s: the window holds one 15-second cluster probe (5 s to spare), so it is never empty.
        sizes=[1],
        steady_sizes=[2],
        steady_seconds=20.0,
        apply_stores=1,
        ui_runs=1,
        interval=0.5,
    )
    started = time.monotonic()
    result = run(config, shared_cluster(control_plane), tmp_path, profile_dir=tmp_path / "profiles")
    elapsed = time.monotonic() - started

    not_positive = {
        key: result.get(key)
        for key in report.required_keys(config)
        if not isinstance(result.get(key), int | float) or result[key] <= 0
    }
    assert not not_positive, f"missing or not positive: {not_positive}"
    assert result["kubernetes_version"] == control_plane.version
    assert all(row["value"] is not None for row in result["targets"])

    apply = result["details"]["apply"]
    assert apply["objects_per_store"] >= 15
    # Ours: one request per object, like the floor (the Secret is a create, the rest applies).
    assert apply["requests_per_store"]["ours"] == apply["objects_per_store"]
    assert apply["requests_per_store"]["floor"] == apply["objects_per_store"]

    steady = result["details"]["steady"]["2"]
    assert steady["stores"] == 2
    requests = steady["requests_by_kind"]
    assert set(requests) <= STEADY_REQUESTS, requests
    # One or two 15-second probes in the 20 s window (two when a slow first pass opened it late).
    assert requests.get("GET /version") == requests.get("GET nodes") in (1, 2), requests
    startup = steady["startup_requests_by_kind"]
    assert {label: startup.get(label) for label in ONCE_AT_START} == dict.fromkeys(ONCE_AT_START, 1), startup
    assert result["steady_startup_requests_2"] == steady["startup_requests"] >= len(ONCE_AT_START)

    for name in ("apply_one_store", "provision_one_store", "ui_my_stores", "ui_admin"):
        text = (tmp_path / "profiles" / f"profile_{name}.txt").read_text()
        assert "Own time by category" in text

    path = report.write(result, tmp_path / "latest.json")
    assert json.loads(path.read_text())["cpu_count"] == result["cpu_count"]
    assert "apply_vs_floor_ratio" in report.table(result)
    print(f"\nbench smoke run took {elapsed:.1f}s")
