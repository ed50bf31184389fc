"""The benchmark's report logic, without a cluster: keys, targets, CLI options."""

from __future__ import annotations

import pytest

from bench import report
from bench.__main__ import parse
from bench.cluster import request_label
from bench.run import Config
from bench.stats import percentile, summary

# The keys issue 7 asks latest.json to carry.
ISSUE_KEYS = {
    "apply_vs_floor_ratio",
    "kubectl_vs_ours_speedup",
    "time_to_ready_p50_s",
    "stores_per_minute_100",
    "steady_requests_per_min_10",
    "steady_requests_per_min_100",
    "my_stores_render_ms_1000",
    "admin_render_ms_10000",
    "cpu_count",
}


def test_the_full_run_promises_every_key_of_the_issue() -> None:
    assert set(report.required_keys(Config())) >= ISSUE_KEYS


def test_the_full_run_checks_every_target_of_the_issue() -> None:
    metrics = {t.metric: t for t in report.targets(Config())}
    assert metrics["apply_vs_floor_ratio"].met(1.5) and not metrics["apply_vs_floor_ratio"].met(1.51)
    assert metrics["kubectl_vs_ours_speedup"].met(5) and not metrics["kubectl_vs_ours_speedup"].met(4.9)
    assert metrics["my_stores_render_ms_1000"].met(199.9) and not metrics["my_stores_render_ms_1000"].met(200)
    assert metrics["admin_render_ms_10000"].met(499.9) and not metrics["admin_render_ms_10000"].met(500)
    assert metrics["steady_ratio_100_vs_10"].met(1.5) and not metrics["steady_ratio_100_vs_10"].met(1.6)
    assert metrics["steady_ratio_1000_vs_10"].met(1.2) and not metrics["steady_ratio_1000_vs_10"].met(1.21)
    assert metrics["requests_per_store_100"].met(25) and not metrics["requests_per_store_100"].met(25.1)
    assert metrics["ready_vs_cluster_floor_100"].met(1.5) and not metrics["ready_vs_cluster_floor_100"].met(1.51)


def provisioning_run(**overrides: object) -> dict[str, object]:
    """One provisioning phase's result, as bench.cluster.provision reports it."""
    run: dict[str, object] = {
        "stores_per_minute": 30.0,
        "stores_per_minute_accepted": 60.0,
        "total_to_ready_s": 10.0,
        "total_to_accepted_s": 5.0,
        "time_to_accepted_s": {"p50": 1.0},
        "time_to_ready_s": {"p50": 4.0, "p95": 5.0},
        "apply_ms": {"p50": 100.0},
        "requests_per_store": 40.0,
    }
    return run | overrides


def test_headline_takes_the_steady_ratio_and_the_largest_run() -> None:
    run = provisioning_run()
    results = {
        "provisioning": {"1": dict(run, time_to_ready_s={"p50": 2.0, "p95": 2.0}), "100": run},
        "steady": {"10": {"requests_per_min": 10.0}, "100": {"requests_per_min": 12.0}},
    }
    flat = report.headline(results, Config())
    assert flat["time_to_ready_p50_s"] == 4.0
    assert flat["time_to_ready_p50_s_1"] == 2.0
    assert flat["steady_ratio_100_vs_10"] == 1.2
    rows = {row["metric"]: row for row in report.evaluate(flat, Config())}
    assert rows["steady_ratio_100_vs_10"]["met"] is True
    assert rows["apply_vs_floor_ratio"]["met"] is None  # not measured: neither met nor missed


def test_the_floor_ratio_is_ours_over_the_floor_averaged_over_the_abba_rounds() -> None:
    def ready_in(seconds: float) -> dict[str, float]:
        return {"total_to_ready_s": seconds}

    run = provisioning_run(total_to_ready_s=120.0)
    one_pair = {"provisioning": {"100": run}, "floor": {"100": ready_in(100.0)}}
    assert report.headline(one_pair, Config())["ready_vs_cluster_floor_100"] == 1.2
    abba = {
        "provisioning": {"100": run},  # A ... A: ours 120 s, then 90 s
        "provisioning_repeat": {"100": ready_in(90.0)},
        "floor": {"100": ready_in(60.0)},  # ... B B ...: the floor 60 s, then 90 s
        "floor_rounds": {"100": [ready_in(60.0), ready_in(90.0)]},
    }
    flat = report.headline(abba, Config())
    assert flat["cluster_floor_ready_s_100"] == 75.0
    assert flat["ready_vs_cluster_floor_100"] == 1.4  # 105 / 75
    assert (flat["ready_vs_cluster_floor_100_pair1"], flat["ready_vs_cluster_floor_100_pair2"]) == (2.0, 1.0)


@pytest.mark.parametrize(
    ("method", "path", "label"),
    [
        ("PATCH", "/apis/apps/v1/namespaces/store-a-1/statefulsets/mariadb?force=true", "PATCH statefulsets/<name>"),
        ("GET", "/api/v1/namespaces/store-a-1/events?fieldSelector=type%3DWarning", "GET events"),
        ("GET", "/api/v1/namespaces?labelSelector=x", "GET namespaces"),
        ("GET", "/api/v1/namespaces/store-a-1", "GET namespaces/<name>"),
        ("POST", "/api/v1/namespaces/store-a-1/secrets", "POST secrets"),
        ("GET", "/version", "GET /version"),
    ],
)
def test_request_labels_name_the_resource_not_the_store(method: str, path: str, label: str) -> None:
    assert request_label(method, path) == label


def test_percentiles_interpolate_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert summary([1.0, 3.0])["p95"] == 2.9


def test_cli_defaults_are_the_issue_sizes_and_quick_is_tiny() -> None:
    _, full = parse([])
    assert (full.sizes, full.steady_sizes) == ([1, 20, 100], [10, 100, 1000])
    assert (full.my_stores_rows, full.admin_rows) == (1000, 10000)
    assert full.floor_rounds == 2 and parse(["--floor-rounds", "1"])[1].floor_rounds == 1
    args, quick = parse(["--quick", "--sizes", "1,2", "--ui-rows", "10,20"])
    assert quick.quick and quick.sizes == [1, 2] and (quick.my_stores_rows, quick.admin_rows) == (10, 20)
    assert args.output.name == "quick.json"
    with pytest.raises(SystemExit):
        parse(["--sizes", "0"])


def test_the_api_phase_has_its_targets_and_keys_and_runs_alone() -> None:
    metrics = {t.metric: t for t in report.targets(Config())}
    assert metrics["api_token_requests_per_s"].met(100) and not metrics["api_token_requests_per_s"].met(99.9)
    assert metrics["api_token_p95_ms"].met(199.9) and not metrics["api_token_p95_ms"].met(200)
    assert "api_token_p95_ms" not in {t.metric for t in report.targets(Config(phases=("ui",)))}
    mode = {"requests_per_s": 150.0, "p50_ms": 40.0, "p95_ms": 90.0, "errors": 0}
    flat = report.headline(
        {"api": {"token": mode, "basic": dict(mode, requests_per_s=5.0), "health": {"p95_ms": 9.0}}}, Config()
    )
    assert (flat["api_token_requests_per_s"], flat["api_basic_requests_per_s"], flat["api_health_p95_ms"]) == (
        150.0,
        5.0,
        9.0,
    )
    _, only_api = parse(["--phases", "api", "--api-seconds", "5", "--api-clients", "4"])
    assert (only_api.phases, only_api.api_seconds, only_api.api_clients) == (("api",), 5.0, 4)


def test_the_pickup_phase_has_its_target_and_keys_and_runs_alone() -> None:
    target = {t.metric: t for t in report.targets(Config())}["pickup_p50_ms"]
    assert target.met(99.9) and not target.met(100)
    assert "pickup_p50_ms" not in {t.metric for t in report.targets(Config(phases=("api",)))}
    assert {"pickup_p50_ms", "pickup_p95_ms"} <= set(report.required_keys(Config()))
    flat = report.headline({"pickup": {"pickup_ms": {"p50": 40.0, "p95": 90.0}}}, Config())
    assert (flat["pickup_p50_ms"], flat["pickup_p95_ms"]) == (40.0, 90.0)
    _, only_pickup = parse(["--phases", "pickup", "--pickup-orders", "5"])
    assert (only_pickup.phases, only_pickup.pickup_orders) == (("pickup",), 5)
