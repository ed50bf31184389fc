"""The chart's monitoring: scrape annotations, the worker's metrics port and Service, the
NetworkPolicy for Prometheus, and the opt-in ServiceMonitor, PrometheusRule and Grafana
dashboard, rendered by the real helm binary.

The alert rules are checked without promtool (building it from Go modules costs more than
CI's budget here): every expression is parsed out of the rendered YAML and each metric
name in it must be one the platform exposes (a full scrape of a real registry), scoped to
the release's namespace. So a renamed metric cannot leave an alert that never fires.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helm.test_chart import CHART, Tools, find, make_tools, render
from tests.shared.metrics import everything_scraped, metric_names_in

pytestmark = pytest.mark.cluster

ALL_ON = (
    "--set",
    "metrics.serviceMonitor.enabled=true",
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--set",
    "metrics.grafanaDashboard.enabled=true",
)
DASHBOARD = CHART / "dashboards" / "store-platform.json"


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    return make_tools(tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every series name the platform's registry exposes."""
    return everything_scraped(tmp_path_factory.mktemp("scrape")).names()


def test_pods_are_annotated_and_the_worker_has_a_named_metrics_port(tools: Tools) -> None:
    docs = render(tools, "values.yaml")
    portal = find(docs, "Deployment", "-portal")["spec"]["template"]
    worker = find(docs, "Deployment", "-worker")["spec"]["template"]
    assert {k: v for k, v in portal["metadata"]["annotations"].items() if k.startswith("prometheus.io/")} == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8501",
        "prometheus.io/path": "/metrics",
    }
    assert {k: v for k, v in worker["metadata"]["annotations"].items() if k.startswith("prometheus.io/")} == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "prometheus.io/path": "/metrics",
    }
    container = worker["spec"]["containers"][0]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert {"name": "METRICS_PORT", "value": "9090"} in container["env"]
    service = find(docs, "Service", "-worker")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "worker"
    # Off by default: nothing that needs the Prometheus Operator's CRDs or Grafana.
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    assert not [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]

    moved = render(tools, "values.yaml", "--set", "metrics.workerPort=9500", "--set", "metrics.podAnnotations=false")
    worker = find(moved, "Deployment", "-worker")["spec"]["template"]
    assert worker["spec"]["containers"][0]["ports"][0]["containerPort"] == 9500
    assert {"name": "METRICS_PORT", "value": "9500"} in worker["spec"]["containers"][0]["env"]
    assert not any(k.startswith("prometheus.io/") for k in worker["metadata"]["annotations"])


def test_network_policy_lets_only_the_scrapers_reach_the_metrics_ports(tools: Tools) -> None:
    policy = find(render(tools, "values.yaml"), "NetworkPolicy", "-metrics-ingress")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    components = next(e for e in spec["podSelector"]["matchExpressions"] if e["key"] == "app.kubernetes.io/component")
    assert components["values"] == ["portal", "worker"]
    (rule,) = spec["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert {p["port"] for p in rule["ports"]} == {8501, 9090}
    none = render(tools, "values.yaml", "--set", "metrics.scrapeFrom=null")
    assert not [d for d in none if d["metadata"]["name"].endswith("-metrics-ingress")]


def test_service_monitor_scrapes_every_portal_and_worker_pod(tools: Tools) -> None:
    docs = render(tools, "values.yaml", *ALL_ON, "--set", "metrics.serviceMonitor.labels.release=kube-prometheus")
    monitor = find(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["store-platform"]}
    assert {(e["port"], e["path"]) for e in spec["endpoints"]} == {("http", "/metrics"), ("metrics", "/metrics")}
    # Its selector matches the portal's and the worker's Services, and nothing else.
    selected = [
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "Service"
        and all(d["metadata"]["labels"].get(k) == v for k, v in spec["selector"]["matchLabels"].items())
        and d["metadata"]["labels"].get("app.kubernetes.io/component")
        in spec["selector"]["matchExpressions"][0]["values"]
    ]
    assert sorted(selected) == ["sp-store-platform-portal", "sp-store-platform-worker"]
    ports = {
        p["name"]
        for d in docs
        if d["kind"] == "Service" and d["metadata"]["name"] in selected
        for p in d["spec"]["ports"]
    }
    assert ports == {"http", "metrics"}


def test_every_alert_reads_metrics_the_platform_exposes(tools: Tools, exposed: set[str]) -> None:
    rule = find(render(tools, "values.yaml", *ALL_ON, namespace="shops"), "PrometheusRule")
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) >= {
        "StorePlatformStoreStuckProvisioning",
        "StorePlatformStoreFailureRateHigh",
        "StorePlatformReconcilerNotRunning",
        "StorePlatformReconcilerStalled",
        "StorePlatformClusterUnreachable",
    }
    for name, alert in alerts.items():
        expr = alert["expr"]
        used = metric_names_in(expr)
        assert used, f"{name} reads no platform metric: {expr}"
        assert used <= exposed, f"{name} reads metrics nobody exposes: {used - exposed}"
        # Every selector of a platform metric is scoped to this release's namespace.
        assert expr.count("store_platform_") == expr.count('{namespace="shops"'), (name, expr)
        assert alert["labels"]["severity"] in ("warning", "critical"), name
        assert alert["annotations"]["summary"] and alert["for"].endswith("m"), name
    assert "> 0.5" in alerts["StorePlatformStoreFailureRateHigh"]["expr"]
    assert "> 300" in alerts["StorePlatformReconcilerStalled"]["expr"]

    tuned = find(
        render(
            tools,
            "values.yaml",
            *ALL_ON,
            "--set",
            'metrics.prometheusRule.selector=job="sp"',
            "--set",
            "metrics.prometheusRule.reconcilerMinutes=3",
        ),
        "PrometheusRule",
    )
    rules = {r["alert"]: r for r in tuned["spec"]["groups"][0]["rules"]}
    assert 'store_platform_reconciler_lease_held{job="sp"}' in rules["StorePlatformReconcilerNotRunning"]["expr"]
    assert rules["StorePlatformReconcilerNotRunning"]["for"] == "3m"
    assert "> 180" in rules["StorePlatformReconcilerStalled"]["expr"]


def test_dashboard_is_valid_and_reads_only_exposed_metrics(tools: Tools, exposed: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "store-platform"
    targets = [t for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(targets) >= 20
    used: set[str] = set()
    for target in targets:
        names = metric_names_in(target["expr"])
        assert names, target["expr"]
        used |= names
    assert used <= exposed, f"dashboard queries metrics nobody exposes: {used - exposed}"
    families = {n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for n in used}
    ours = {n for n in exposed if n.startswith("store_platform_") and not n.endswith(("_bucket", "_count", "_sum"))}
    assert ours - families - {"store_platform_database_up"} <= {"store_platform_cluster_checked_timestamp_seconds"}, (
        f"metrics without a panel: {ours - families}"
    )
    configmap = find(render(tools, "values.yaml", *ALL_ON), "ConfigMap", "-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["store-platform.json"]) == dashboard


@pytest.mark.parametrize("values_file", ("values.yaml", "values-local.yaml", "values-prod.yaml"))
def test_lint_with_every_monitoring_option_on(tools: Tools, values_file: str) -> None:
    result = tools.run("lint", "--strict", str(CHART), "-f", str(CHART / values_file), *ALL_ON)
    assert "0 chart(s) failed" in result.stdout


def test_schema_rejects_bad_monitoring_values(tools: Tools) -> None:
    for bad in (
        "metrics.workerPort=0",
        "metrics.serviceMonitor.interval=often",
        "metrics.prometheusRule.failureRatio=2",
        "metrics.prometheusRule.reconcilerMinutes=0",
        "metrics.grafanaDashboard.enable=true",
    ):
        result = tools.run(
            "template", "sp", str(CHART), "--kube-version", tools.kube_version, "--set", bad, check=False
        )
        assert result.returncode != 0, bad


def test_chart_ships_the_dashboard_file() -> None:
    ignored = (CHART / ".helmignore").read_text().split()
    assert DASHBOARD.exists() and not any(Path(DASHBOARD.name).match(p) for p in ignored)
