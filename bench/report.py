"""Headline numbers, targets, the printed table and bench/results/*.json."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Target:
    metric: str
    text: str
    check: Callable[[float, float], bool]
    limit: float

    def met(self, value: float) -> bool:
        return self.check(value, self.limit)


def targets(config: Any) -> list[Target]:
    """The issue's targets, for the sizes this run used (the full run uses the issue's sizes)."""
    small = min(config.steady_sizes)
    found = [
        Target("apply_vs_floor_ratio", "<= 1.5", operator.le, 1.5),
        Target("kubectl_vs_ours_speedup", ">= 5", operator.ge, 5.0),
        Target(f"my_stores_render_ms_{config.my_stores_rows}", "< 200", operator.lt, 200.0),
        Target(f"admin_render_ms_{config.admin_rows}", "< 500", operator.lt, 500.0),
    ]
    for size in sorted(set(config.steady_sizes) - {small}):
        # 1.5 up to 100 stores; the issue asks 1.2 at 1,000 (the caches make a pass cost nothing per store).
        limit = 1.2 if size >= 1000 else 1.5
        found.append(Target(f"steady_ratio_{size}_vs_{small}", f"<= {limit}", operator.le, limit))
    largest = max(config.sizes)
    if "provision" in getattr(config, "phases", ("provision",)):
        found += [
            Target(f"requests_per_store_{largest}", "<= 25", operator.le, 25.0),
            Target(f"ready_vs_cluster_floor_{largest}", "<= 1.5", operator.le, 1.5),
        ]
    if "pickup" in getattr(config, "phases", ()):
        found.append(Target("pickup_p50_ms", "< 100", operator.lt, 100.0))
    if "api" in getattr(config, "phases", ()):
        found += [
            Target("api_token_requests_per_s", ">= 100", operator.ge, 100.0),
            Target("api_token_p95_ms", "< 200", operator.lt, 200.0),
        ]
    return found


def required_keys(config: Any) -> list[str]:
    """Keys latest.json must carry with a positive number (the issue's list, at this run's sizes)."""
    largest = max(config.sizes)
    keys = [
        "apply_vs_floor_ratio",
        "kubectl_vs_ours_speedup",
        "time_to_ready_p50_s",
        f"stores_per_minute_{largest}",
        *(f"steady_requests_per_min_{n}" for n in config.steady_sizes),
        f"my_stores_render_ms_{config.my_stores_rows}",
        f"admin_render_ms_{config.admin_rows}",
        "cpu_count",
    ]
    for n in config.sizes:
        keys += [f"time_to_ready_p50_s_{n}", f"time_to_ready_p95_s_{n}", f"requests_per_store_{n}"]
    keys += [f"ready_vs_cluster_floor_{largest}", f"cluster_floor_ready_s_{largest}"]
    keys += [f"reconciler_rss_mb_{n}" for n in config.steady_sizes]
    keys += [f"stores_ready_{n}_s" for n in config.steady_sizes if n not in config.sizes]
    if "pickup" in getattr(config, "phases", ()):
        keys += ["pickup_p50_ms", "pickup_p95_ms"]
    return keys


def headline(results: dict[str, Any], config: Any) -> dict[str, Any]:
    """Flatten the phases' results into the top-level keys of latest.json."""
    flat: dict[str, Any] = {}
    apply = results.get("apply")
    if apply:
        for key in (
            "apply_vs_floor_ratio",
            "apply_vs_parallel_floor_ratio",
            "kubectl_vs_ours_speedup",
            "kubectl_ssa_vs_ours_speedup",
            "apply_vs_floor_ratio_paired_median",
            "kubectl_vs_ours_speedup_paired_median",
        ):
            flat[key] = apply[key]
        for method, ms in apply["ms_per_store"].items():
            flat[f"apply_ms_{method}_p50"] = ms["p50"]
        flat["kubectl_process_start_ms"] = apply["kubectl_process_start_ms"]
    runs = results.get("provisioning", {})
    for n, run in runs.items():
        flat[f"stores_per_minute_{n}"] = run["stores_per_minute"]
        flat[f"stores_per_minute_accepted_{n}"] = run["stores_per_minute_accepted"]
        flat[f"total_to_ready_s_{n}"] = run["total_to_ready_s"]
        flat[f"total_to_accepted_s_{n}"] = run["total_to_accepted_s"]
        flat[f"time_to_accepted_p50_s_{n}"] = run["time_to_accepted_s"]["p50"]
        flat[f"time_to_ready_p50_s_{n}"] = run["time_to_ready_s"]["p50"]
        flat[f"time_to_ready_p95_s_{n}"] = run["time_to_ready_s"]["p95"]
        flat[f"apply_ms_in_run_p50_{n}"] = run["apply_ms"]["p50"]
        flat[f"requests_per_store_{n}"] = run["requests_per_store"]
    if runs:
        largest = max(runs, key=int)
        flat["time_to_ready_p50_s"] = runs[largest]["time_to_ready_s"]["p50"]
        flat["time_to_ready_p50_s_measured_with_stores"] = int(largest)
    for n, floor in results.get("floor", {}).items():
        # A B B A: every run of ours against every floor run, summed (bench/run.py).
        floors = [f["total_to_ready_s"] for f in results.get("floor_rounds", {}).get(n, [floor])]
        ours = [r["total_to_ready_s"] for r in (runs.get(n), results.get("provisioning_repeat", {}).get(n)) if r]
        flat[f"cluster_floor_ready_s_{n}"] = round(sum(floors) / len(floors), 2)
        if ours:
            flat[f"ready_vs_cluster_floor_{n}"] = round((sum(ours) / len(ours)) / (sum(floors) / len(floors)), 2)
        if len(floors) > 1 and len(ours) > 1:  # each pair alone, to show the spread
            for index, (o, f) in enumerate(zip(ours, floors, strict=False), start=1):
                flat[f"ready_vs_cluster_floor_{n}_pair{index}"] = round(o / f, 2)
    for n, run in results.get("provisioning_for_steady", {}).items():
        flat[f"stores_ready_{n}_s"] = run["total_to_ready_s"]
        flat[f"requests_per_store_{n}"] = run["requests_per_store"]
    steady = results.get("steady", {})
    for n, run in steady.items():
        flat[f"steady_requests_per_min_{n}"] = run["requests_per_min"]
        if "reconciler_rss_mb" in run:
            flat[f"reconciler_rss_mb_{n}"] = run["reconciler_rss_mb"]
            flat[f"reconciler_cpu_s_per_min_{n}"] = run["reconciler_cpu_s_per_min"]
        if "startup_requests" in run:  # a fresh reconciler's LISTs and WATCHes, before the window
            flat[f"steady_startup_requests_{n}"] = run["startup_requests"]
            flat[f"steady_startup_s_{n}"] = run["startup_s"]
    if len(steady) >= 2:
        small = min(steady, key=int)
        for size in sorted(set(steady) - {small}, key=int):
            ratio = steady[size]["requests_per_min"] / max(steady[small]["requests_per_min"], 1e-9)
            flat[f"steady_ratio_{size}_vs_{small}"] = round(ratio, 2)
    pickup = results.get("pickup")
    if pickup:
        flat["pickup_p50_ms"] = pickup["pickup_ms"]["p50"]
        flat["pickup_p95_ms"] = pickup["pickup_ms"]["p95"]
    if results.get("api"):
        from bench.api import headline as api_headline

        flat.update(api_headline(results["api"]))
    ui = results.get("ui")
    if ui:
        flat.update({k: v for k, v in ui.items() if isinstance(v, int | float) and k != "runs"})
    return flat


def evaluate(flat: dict[str, Any], config: Any) -> list[dict[str, Any]]:
    rows = []
    for target in targets(config):
        value = flat.get(target.metric)
        rows.append(
            {
                "metric": target.metric,
                "value": value,
                "target": target.text,
                "met": None if value is None else target.met(float(value)),
            }
        )
    return rows


def table(report: dict[str, Any]) -> str:
    """The printed summary: targets first, then the other headline numbers."""
    lines = [f"{'metric':44} {'value':>12}  {'target':>8}  met?", "-" * 74]
    shown = set()
    for row in report["targets"]:
        met = "n/a" if row["met"] is None else ("yes" if row["met"] else "NO")
        lines.append(f"{row['metric']:44} {_fmt(row['value']):>12}  {row['target']:>8}  {met}")
        shown.add(row["metric"])
    lines.append("-" * 74)
    for key, value in report.items():
        if key in shown or not isinstance(value, int | float) or isinstance(value, bool):
            continue
        lines.append(f"{key:44} {_fmt(value):>12}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def write(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    return path
