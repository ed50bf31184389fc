"""The metrics' contract: names and labels follow Prometheus conventions with bounded
values, the database gauges count what the rows say, and each instrumented place (API
routes, sign-in, database, Kubernetes requests, the reconciler) moves its metric."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from portal.api import StoreApi
from provisioning import lease
from provisioning.models import ClusterStatus, FailureKind, Store, StoreStatus, utcnow
from provisioning.observability import metrics
from provisioning.observability.collector import bounded
from provisioning.observability.exposition import instrument_routes, metrics_route, render
from provisioning.platform import Platform
from provisioning.reconciler import Reconciler
from tests.fakes import FakeCluster
from tests.shared.metrics import FORBIDDEN_LABELS, PREFIX, Scrape, exercise_every_instrument
from tests.shared.portal import PASSWORDS, create_users, make_settings
from tests.shared.waiting import wait_for

STANDARD_PREFIXES = ("process_", "python_")  # prometheus_client's own process collectors


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    built = Platform.build(make_settings(tmp_path, max_failed_logins=3))
    create_users(built.users, "alice")
    yield built
    built.db.dispose()


def scrape(platform: Platform) -> Scrape:
    return Scrape(render(lambda: platform).decode())


def add_store(platform: Platform, name: str, **values: Any) -> Store:
    owner = platform.users.get_actor("alice")
    with Session(platform.db) as session:
        store = Store(name=name, owner_id=owner.id, namespace=f"store-{name}", **values)
        session.add(store)
        session.commit()
        session.refresh(store)
        return store


# -- naming rules -----------------------------------------------------------------------------


def test_every_metric_is_prefixed_with_units_and_bounded_labels(platform: Platform) -> None:
    add_store(platform, "shop-a")
    lease.try_acquire(platform.db, "test", ttl_seconds=30)
    with Session(platform.db) as session:
        session.add(ClusterStatus(id=1, reachable=True, checked_at=utcnow()))
        session.commit()
    exercise_every_instrument()
    result = scrape(platform)
    ours = [f for f in result.families if not f.name.startswith(STANDARD_PREFIXES)]
    assert len(ours) >= 20, [f.name for f in ours]
    for family in ours:
        assert family.name.startswith(PREFIX), family.name
        assert family.documentation, f"{family.name} has no help text"
        names = {s.name for s in family.samples}
        assert names, f"{family.name} has no sample"
        if family.type == "counter":
            assert names == {family.name + "_total"}, (family.name, names)
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
            assert {n.rsplit("_", 1)[-1] for n in names} == {"bucket", "count", "sum"}, names
        if "timestamp" in family.name:
            assert family.name.endswith("_timestamp_seconds"), family.name
        for sample in family.samples:
            labels = set(sample.labels) - {"le"}
            assert not labels & FORBIDDEN_LABELS, (sample.name, labels)
    assert not any(s.name.endswith("_created") for s in result.samples), "no _created series"


def test_label_values_come_from_bounded_sets() -> None:
    assert bounded("ready", ("ready", "failed")) == "ready"
    assert bounded("my-shop", ("ready", "failed")) == "other"
    assert bounded(None, ("ready",)) == "other"
    assert metrics.failure_cause(FailureKind.TIMEOUT) == "timeout"
    assert metrics.failure_cause("some free text") == "other"
    before = Scrape(metrics_text()).value("store_platform_kube_requests_total", verb="OTHER", result="error")
    metrics.kube_request("brew", None, 0.1)
    after = Scrape(metrics_text())
    assert after.value("store_platform_kube_requests_total", verb="OTHER", result="error") == before + 1
    for status, result in ((201, "2xx"), (404, "4xx"), (503, "5xx"), (99, "1xx"), (700, "5xx")):
        old = Scrape(metrics_text()).value("store_platform_kube_requests_total", verb="PATCH", result=result)
        metrics.kube_request("patch", status, 0.01)
        assert (
            Scrape(metrics_text()).value("store_platform_kube_requests_total", verb="PATCH", result=result) == old + 1
        )


def metrics_text() -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.REGISTRY).decode()


# -- database gauges ----------------------------------------------------------------------------


def test_store_gauges_count_rows_by_engine_status_and_health(platform: Platform) -> None:
    hour_ago = utcnow() - timedelta(hours=1)
    add_store(platform, "req-a")
    add_store(platform, "prov-a", status=StoreStatus.PROVISIONING, provisioning_started_at=utcnow())
    add_store(platform, "prov-old", status=StoreStatus.PROVISIONING, provisioning_started_at=hour_ago)
    add_store(platform, "ready-a", status=StoreStatus.READY, health="degraded")
    add_store(platform, "ready-m", engine="medusa", status=StoreStatus.READY)
    add_store(platform, "fail-t", status=StoreStatus.FAILED, health="erroring", failure_kind=FailureKind.TIMEOUT)
    add_store(platform, "fail-s", status=StoreStatus.FAILED, health="erroring", failure_kind=FailureKind.SETUP)
    add_store(platform, "gone", status=StoreStatus.DELETED)
    add_store(platform, "odd", engine="shopify", status="weird", health="strange")

    result = scrape(platform)
    assert result.value("store_platform_database_up") == 1

    def stores(engine: str, status: str) -> float:
        return result.value("store_platform_stores", engine=engine, status=status)

    assert stores("woocommerce", "requested") == 1
    assert stores("woocommerce", "provisioning") == 2
    assert stores("woocommerce", "ready") == 1
    assert stores("medusa", "ready") == 1
    assert stores("woocommerce", "failed") == 2
    assert stores("woocommerce", "deleted") == 1
    assert stores("medusa", "requested") == 0, "every engine x status is present, at 0 when empty"
    assert stores("other", "other") == 1, "unknown values are counted as other, never as themselves"
    assert result.value("store_platform_stores") == 9
    health = {
        (s.labels["engine"], s.labels["health"]): s.value
        for s in result.samples
        if s.name == "store_platform_stores_health" and s.value
    }
    assert health == {
        ("woocommerce", "working"): 3,
        ("woocommerce", "degraded"): 1,
        ("woocommerce", "erroring"): 2,
        ("medusa", "working"): 1,
        ("other", "other"): 1,
    }, "deleted stores have no health"
    # Provisioning for an hour (timeout 900 s), and failed on the timeout (still watched).
    assert result.value("store_platform_stores_past_timeout") == 2
    labels = {k for s in result.samples if s.name.startswith("store_platform_stores") for k in s.labels}
    assert labels == {"engine", "status", "health"}
    assert "prov-old" not in result.text and "alice" not in result.text


def test_lease_and_cluster_gauges(platform: Platform) -> None:
    first = scrape(platform)
    assert first.value("store_platform_reconciler_lease_held") == 0
    assert not first.has("store_platform_cluster_reachable"), "no reconciler ever probed: no value, not a guess"
    assert lease.try_acquire(platform.db, "worker-a:1:2", ttl_seconds=30)
    with Session(platform.db) as session:
        session.add(ClusterStatus(id=1, reachable=False, error="refused", checked_at=utcnow()))
        session.commit()
    second = scrape(platform)
    assert second.value("store_platform_reconciler_lease_held") == 1
    assert second.value("store_platform_cluster_reachable") == 0
    assert second.value("store_platform_cluster_checked_timestamp_seconds") > 0
    assert "worker-a" not in second.text, "the holder's name is never a label"
    lease.release(platform.db, "worker-a:1:2")
    assert scrape(platform).value("store_platform_reconciler_lease_held") == 0


def test_scrape_answers_when_the_database_does_not() -> None:
    def broken() -> Platform:
        raise RuntimeError("database is down")

    result = Scrape(render(broken).decode())
    assert result.value("store_platform_database_up") == 0
    assert result.has("process_cpu_seconds_total") and result.has("store_platform_reconciler_leader")


# -- instrumented places ------------------------------------------------------------------------


def test_database_errors_are_counted_by_class(platform: Platform) -> None:
    before = scrape(platform).value("store_platform_database_errors_total", error="OperationalError")
    with pytest.raises(Exception, match="no such table"), platform.db.connect() as connection:
        connection.execute(text("SELECT * FROM no_such_table"))
    after = scrape(platform).value("store_platform_database_errors_total", error="OperationalError")
    assert after == before + 1


def test_failed_sign_ins_and_lockouts_are_counted(platform: Platform) -> None:
    before = scrape(platform)
    for _ in range(3):  # MAX_FAILED_LOGINS=3: the third starts a lockout
        platform.users.record_failed_login("alice")
    platform.users.record_failed_login("alice")  # while locked
    after = scrape(platform)
    assert after.value("store_platform_login_failures_total") == before.value("store_platform_login_failures_total") + 4
    assert after.value("store_platform_login_lockouts_total") == before.value("store_platform_login_lockouts_total") + 1


def asgi_call(
    routes: list[Any], method: str, path: str, headers: dict[str, str] | None = None, *, body: bytes = b""
) -> tuple[int, bytes]:
    """One request through a Starlette router, without a server (no httpx here)."""
    from starlette.routing import Router

    router = Router(routes=routes)
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(router(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_api_requests_are_counted_by_route_template_never_the_raw_path(platform: Platform) -> None:
    store = add_store(platform, "api-shop")
    api = StoreApi(lambda: platform)
    routes = [*instrument_routes(api.routes()), metrics_route(lambda: platform)]
    auth = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORDS['alice']}".encode()).decode()}
    template = "/api/stores/{store_id}"

    def count(status: str) -> float:
        return scrape(platform).value("store_platform_api_requests_total", route=template, method="GET", status=status)

    ok, missing = count("200"), count("404")
    assert asgi_call(routes, "GET", f"/api/stores/{store.id}", auth)[0] == 200
    assert asgi_call(routes, "GET", "/api/stores/not-a-store", auth)[0] == 404
    assert (count("200"), count("404")) == (ok + 1, missing + 1)
    status, body = asgi_call(routes, "GET", "/metrics")
    assert status == 200
    served = Scrape(body.decode())
    assert served.value("store_platform_api_requests_total", route=template, method="GET", status="200") >= 1
    assert store.id not in served.text and "not-a-store" not in served.text
    routes_seen = {s.labels["route"] for s in served.samples if s.name == "store_platform_api_requests_total"}
    assert routes_seen <= {r.path for r in api.routes()}, routes_seen


def test_metrics_through_a_reverse_proxy_are_refused(platform: Platform) -> None:
    route = [metrics_route(lambda: platform)]
    assert asgi_call(route, "GET", "/metrics", {"X-Forwarded-For": "203.0.113.9"})[0] == 404
    assert asgi_call(route, "GET", "/metrics", {"X-Real-IP": "203.0.113.9"})[0] == 404
    assert asgi_call(route, "GET", "/metrics")[0] == 200


def test_reconciler_records_passes_leadership_failures_and_durations(platform: Platform) -> None:
    cluster = FakeCluster()
    cluster.make_all_ready()
    reconciler = Reconciler(platform.db, platform.settings, lambda: cluster, identity="metrics-test")
    alice = platform.users.get_actor("alice")
    ready = platform.stores.create_store(alice, "quick-shop")
    cluster.reject_kinds["Ingress"] = "ingresses are not allowed here"
    before = scrape(platform)
    stop = threading.Event()
    thread = threading.Thread(target=reconciler.run_forever, args=(stop,), daemon=True)
    try:
        # Ready in one pass on the fake cluster; then a store refused by the API server.
        thread.start()
        wait_for(lambda: platform.stores.get_store(alice, ready.id).status == StoreStatus.FAILED, timeout=30)
    finally:
        stop.set()
        thread.join(30)
    after = scrape(platform)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("store_platform_reconciler_pass_duration_seconds_count") >= 1
    assert after.value("store_platform_reconciler_last_pass_timestamp_seconds") > 0
    assert after.value("store_platform_reconciler_leader") == 0, "released on stop"
    assert moved("store_platform_store_failures_total", cause="rejected") == 1
    # The fake cluster refused the Ingress: never applied nor ready, so neither duration.
    assert moved("store_platform_store_queue_duration_seconds_count", engine="woocommerce") == 0
    assert moved("store_platform_store_provisioning_duration_seconds_count", engine="woocommerce") == 0
    assert after.value("store_platform_stores", engine="woocommerce", status="failed") == 1


def test_time_to_ready_is_observed_once(platform: Platform) -> None:
    cluster = FakeCluster()
    cluster.make_all_ready()
    reconciler = Reconciler(platform.db, platform.settings, lambda: cluster, identity="metrics-ready")
    alice = platform.users.get_actor("alice")
    before = scrape(platform)
    store = platform.stores.create_store(alice, "ready-shop")
    for _ in range(3):
        reconciler.run_once()
    assert platform.stores.get_store(alice, store.id).status == StoreStatus.READY
    after = scrape(platform)
    for name in (
        "store_platform_store_provisioning_duration_seconds_count",
        "store_platform_store_queue_duration_seconds_count",
    ):
        assert after.value(name, engine="woocommerce") == before.value(name, engine="woocommerce") + 1, name
    assert after.value("store_platform_reconciler_leader") == 1, "run_once took the lease"
    lease.release(platform.db, "metrics-ready")


def test_docs_list_exactly_the_metrics_the_platform_exposes(tmp_path: Path) -> None:
    from tests.shared.metrics import everything_scraped, metric_names_in

    families = {f.name for f in everything_scraped(tmp_path).families if f.name.startswith(PREFIX)}
    documented_text = (Path(__file__).resolve().parents[3] / "docs" / "metrics.md").read_text()
    table = {
        name
        for line in documented_text.splitlines()
        if line.startswith("| `store_platform_")
        for name in metric_names_in(line.split("|")[1])
    }
    exposed = {f + "_total" if f + "_total" in table else f for f in families}
    assert table == exposed, f"undocumented: {exposed - table}; documented but not exposed: {table - exposed}"


def test_kube_requests_without_an_answer_are_counted_as_errors(platform: Platform) -> None:
    from kubernetes import client

    from provisioning.kube import KubeCluster

    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:1"  # nothing listens: connection refused
    cluster = KubeCluster(client.ApiClient(configuration), context="nowhere")
    before = scrape(platform)
    assert not cluster.probe().reachable
    after = scrape(platform)
    name = "store_platform_kube_requests_total"
    assert after.value(name, verb="GET", result="error") == before.value(name, verb="GET", result="error") + 1
    latency = "store_platform_kube_request_duration_seconds_count"
    assert after.value(latency, verb="GET") == before.value(latency, verb="GET") + 1
