"""Render a results JSON as the Markdown tables of docs/performance.md.

python -m bench.markdown [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.report import RESULTS_DIR


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(result: dict[str, Any]) -> str:
    details = result["details"]
    out = [
        f"Run of {result['generated_at']}: `{result.get('command', 'python -m bench')}`, Kubernetes "
        f"{result['kubernetes_version']}, {result['cpu_count']} cores, Python {result['machine']['python']}, "
        f"load average {result['machine']['load_average_before'][0]} at the start and "
        f"{result['machine']['load_average_after'][0]} at the end ({result['machine']['bench_seconds']:.0f} s).",
        "",
        _row("metric", "value", "target", "met?"),
        _row("---", "---:", "---", "---"),
    ]
    for row in result["targets"]:
        met = "n/a" if row["met"] is None else ("yes" if row["met"] else "**no**")
        out.append(_row(f"`{row['metric']}`", _n(row["value"], 3), row["target"], met))

    apply = details.get("apply")
    if apply:
        out += [
            "",
            _row("per store", "p50 ms", "p95 ms", "min ms", "requests"),
            _row("---", "---:", "---:", "---:", "---:"),
        ]
        names = {
            "ours": "ours (`Reconciler._apply_all`)",
            "floor": "floor: `KubeCluster.apply` loop, sequential",
            "floor_parallel": "parallel floor: same waves, bare thread pool",
            "kubectl_ssa": "`kubectl apply --server-side -f`",
            "kubectl_csa": "`kubectl apply -f`",
        }
        for method, ms in apply["ms_per_store"].items():
            out.append(
                _row(
                    names.get(method, method),
                    _n(ms["p50"]),
                    _n(ms["p95"]),
                    _n(ms["min"]),
                    apply["requests_per_store"][method],
                )
            )
        out += [
            "",
            f"{apply['stores_per_method']} stores per method, {apply['objects_per_store']} objects per store; "
            f"kubectl process start (`kubectl version --client`) {apply['kubectl_process_start_ms']} ms. Paired "
            f"medians (per-round ratios): ours/floor {apply['apply_vs_floor_ratio_paired_median']}, "
            f"kubectl/ours {apply['kubectl_vs_ours_speedup_paired_median']}, "
            f"kubectl --server-side/ours {apply['kubectl_ssa_vs_ours_speedup_paired_median']}; "
            f"ours/parallel floor {apply['apply_vs_parallel_floor_ratio']}.",
        ]

    runs = details.get("provisioning", {})
    if runs:
        out += [
            "",
            _row(
                "stores",
                "to accepted (all)",
                "to ready (all)",
                "stores/min",
                "accepted p50 / p95",
                "ready p50 / p95",
                "apply p50",
                "requests/store",
            ),
            _row(*["---:"] * 8),
        ]
        for n, run in sorted(runs.items(), key=lambda kv: int(kv[0])):
            out.append(
                _row(
                    n,
                    f"{run['total_to_accepted_s']} s",
                    f"{run['total_to_ready_s']} s",
                    run["stores_per_minute"],
                    f"{run['time_to_accepted_s']['p50']} / {run['time_to_accepted_s']['p95']} s",
                    f"{run['time_to_ready_s']['p50']} / {run['time_to_ready_s']['p95']} s",
                    f"{_n(run['apply_ms']['p50'], 0)} ms",
                    run["requests_per_store"],
                )
            )
        largest = max(runs, key=int)
        out += ["", f"Requests per store by kind with {largest} stores (mean client-side latency):", ""]
        out += [_row("request", "per store", "mean ms"), _row("---", "---:", "---:")]
        for label, v in runs[largest]["requests_by_kind_per_store"].items():
            out.append(_row(f"`{label}`", v["requests"], v["mean_ms"]))

    steady = details.get("steady", {})
    if steady:
        out += [
            "",
            _row("ready stores", "window", "passes", "requests", "requests/min", "by kind", "DB statements/pass"),
        ]
        out.append(_row("---:", "---:", "---:", "---:", "---:", "---", "---:"))
        for n, run in sorted(steady.items(), key=lambda kv: int(kv[0])):
            kinds = ", ".join(f"`{k}` {v}" for k, v in run["requests_by_kind"].items())
            out.append(
                _row(
                    n,
                    f"{run['seconds']} s",
                    run["passes"],
                    run["requests"],
                    run["requests_per_min"],
                    kinds,
                    run["db_statements_per_pass"],
                )
            )

    ui = details.get("ui")
    if ui:
        out += ["", _row("page", "stores", "render p50 (server cache)", "p95", "plain AppTest", "SQL statements")]
        out.append(_row("---", "---:", "---:", "---:", "---:", "---:"))
        for key, title in (("my_stores", "My stores"), ("admin", "Admin")):
            n = next(k.rsplit("_", 1)[1] for k in ui if k.startswith(f"{key}_render_ms_") and "apptest" not in k)
            out.append(
                _row(
                    title,
                    _n(int(n)),
                    f"{ui[f'{key}_render_ms_{n}']} ms",
                    f"{ui[f'{key}_render_summary_{n}']['p95']} ms",
                    f"{ui[f'{key}_render_ms_apptest_{n}']} ms",
                    ui[f"{key}_queries_{n}"],
                )
            )
    loads = details.get("load_average_1m_at_start")
    if loads:
        out += ["", "1-minute load average when each phase started: " + ", ".join(f"{k} {v}" for k, v in loads.items())]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else RESULTS_DIR / "latest.json"
    print(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
