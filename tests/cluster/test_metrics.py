"""Metrics through a store's lifecycle, scraped as Prometheus would: the real portal
process (`streamlit run asgi.py`, `/metrics`) and the real worker process
(`python -m provisioning.worker`, METRICS_PORT) sharing one database, on the real control
plane. The text is parsed with prometheus_client's own parser."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from provisioning.errors import ClusterRejectedError
from provisioning.watch.cached_cluster import WATCHED
from tests.reliability.support import WorkerProcess, worker_env
from tests.shared.metrics import Scrape, scrape
from tests.shared.platform import store_cluster
from tests.shared.portal import build_platform, unique
from tests.shared.servers import api_request, free_port, run_portal
from tests.shared.waiting import wait_for

pytestmark = pytest.mark.cluster

READY = {"engine": "woocommerce", "status": "ready"}


def test_metrics_follow_a_store_from_request_to_deleted(tmp_path: Path, control_plane: Any) -> None:
    port = free_port()
    env = worker_env(f"sqlite:///{tmp_path / 'platform.db'}", control_plane.kubeconfig, tmp_path)
    env.update(RUN_RECONCILER="false", METRICS_PORT=str(port))  # the chart's split: portal + worker
    build_platform(env, users=("alice",)).db.dispose()
    worker_url = f"http://127.0.0.1:{port}/metrics"
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    store_id = namespace = ""
    try:
        with run_portal(env, tmp_path / "portal.log") as portal:
            portal_url = f"{portal}/metrics"

            def worker_passed() -> Scrape | None:
                assert worker.alive(), worker.text()[-3000:]
                with contextlib.suppress(OSError):
                    result = scrape(worker_url)
                    if result.value("store_platform_reconciler_pass_duration_seconds_count") > 0:
                        return result
                return None

            worker_before = wait_for(worker_passed, timeout=60, message="the worker's first reconciler pass")
            portal_before = scrape(portal_url)
            assert worker_before.value("store_platform_reconciler_leader") == 1
            assert portal_before.value("store_platform_reconciler_leader") == 0, "no reconciler in the portal"
            assert portal_before.value("store_platform_stores", **READY) == 0

            status, store = api_request(
                portal, "POST", "/api/stores", user="alice", body={"name": unique("metrics"), "type": "woocommerce"}
            )
            assert status == 201, store
            store_id, namespace = store["id"], store["namespace"]

            def ready() -> bool:
                code, body = api_request(portal, "GET", f"/api/stores/{store_id}", user="alice")
                assert code == 200 and body["status"] not in ("failed", "deleted"), body
                return body["status"] == "ready"

            wait_for(ready, timeout=240, interval=1, message="the store to become ready")
            portal_ready, worker_ready = scrape(portal_url), scrape(worker_url)

            def moved(after: Scrape, before: Scrape, name: str, **labels: str) -> float:
                return after.value(name, **labels) - before.value(name, **labels)

            # Database gauges: the same rows, whichever process is scraped.
            for result in (portal_ready, worker_ready):
                assert result.value("store_platform_stores", **READY) == 1
                assert result.value("store_platform_stores_health", engine="woocommerce", health="working") == 1
                assert result.value("store_platform_reconciler_lease_held") == 1
                assert result.value("store_platform_cluster_reachable") == 1
                assert result.value("store_platform_database_up") == 1
            # The reconciler's own instruments live in the worker process.
            for name in (
                "store_platform_store_provisioning_duration_seconds_count",
                "store_platform_store_queue_duration_seconds_count",
            ):
                assert moved(worker_ready, worker_before, name, engine="woocommerce") == 1, name
                assert portal_ready.value(name, engine="woocommerce") == 0, name
            took = worker_ready.value("store_platform_store_provisioning_duration_seconds_sum", engine="woocommerce")
            assert 0 < took < 240
            applies = moved(
                worker_ready, worker_before, "store_platform_kube_requests_total", verb="PATCH", result="2xx"
            )
            assert applies >= 10, "every manifest is a server-side apply (PATCH)"
            # Reads: the readiness caches' LIST and WATCH per kind, opened when the worker connected.
            assert worker_ready.value("store_platform_kube_requests_total", verb="GET", result="2xx") >= len(WATCHED)
            assert worker_ready.value("store_platform_kube_requests_total", verb="WATCH", result="2xx") >= len(WATCHED)
            assert worker_ready.value("store_platform_kube_request_duration_seconds_count", verb="PATCH") >= applies
            assert moved(worker_ready, worker_before, "store_platform_reconciler_pass_duration_seconds_count") > 0
            assert worker_ready.value("store_platform_store_failures_total") == 0
            # The API, by route template and status; never the store's id or name.
            assert moved(portal_ready, portal_before, "store_platform_api_requests_total",
                         route="/api/stores", method="POST", status="201") == 1  # fmt: skip
            assert (
                portal_ready.value(
                    "store_platform_api_requests_total", route="/api/stores/{store_id}", method="GET", status="200"
                )
                >= 1
            )
            for result in (portal_ready, worker_ready):
                assert store_id not in result.text and store["name"] not in result.text
                assert namespace not in result.text and "alice" not in result.text

            assert api_request(portal, "DELETE", f"/api/stores/{store_id}", user="alice")[0] == 202

            def deleted() -> bool:
                return api_request(portal, "GET", f"/api/stores/{store_id}", user="alice")[1]["status"] == "deleted"

            wait_for(deleted, timeout=180, interval=1, message="the store to be deleted")
            gone = scrape(worker_url)
            assert gone.value("store_platform_stores", **READY) == 0
            assert gone.value("store_platform_stores", engine="woocommerce", status="deleted") == 1
            assert moved(gone, worker_ready, "store_platform_kube_requests_total", verb="DELETE", result="2xx") >= 1
            assert scrape(portal_url).value("store_platform_stores", engine="woocommerce", status="deleted") == 1
    finally:
        worker.stop()
        if namespace:
            with contextlib.suppress(ClusterRejectedError):
                store_cluster(control_plane.kubeconfig).delete("v1", "Namespace", namespace)
