"""The Helm chart on the real node: real pods of the platform image, a real database.

Issue 13, item 4, first bullet. The chart is installed with the platform image built here
(``tools/images/platform_app.py``, the Dockerfile's contents without Docker) and the
PostgreSQL stand-in, both imported into the node's containerd, into a namespace that
enforces Pod Security ``restricted``. Its portal, worker and PostgreSQL pods run on
``real-node-0`` (the chart's ``nodeSelector``/``tolerations`` values), so:

- the kubelet runs their probes (the portal's startup/readiness/liveness HTTP probes on
  ``/_stcore/health``, PostgreSQL's ``pg_isready``) and the pods become Ready through them;
- the portal and the worker migrate the database at start: the Alembic revision in the
  stand-in PostgreSQL (on a ``real-local-path`` volume) is the repo's head;
- a user signs in through the portal's Service (its ClusterIP from the host, kube-proxy):
  the REST API answers 401 to a wrong password and 200 to the right one, then orders a
  store (``POST /api/stores`` -> 201);
- the worker, in its pod with the chart's ServiceAccount (in-cluster config through the
  ``kubernetes`` Service: ``RealNode.expose_api_server``), holds the reconciler lease and
  provisions the store: its namespace and objects appear, created by that ServiceAccount.
  The store's own pods (WordPress, MariaDB, the setup Job) do not tolerate the real node's
  taint, so they land on the kwok nodes, where they are simulated (no WordPress image can
  be built here); the store reaching ``ready`` there is the reconciler's doing, not theirs;
- ``helm test`` runs the chart's test pod (the platform image's ``docker/healthcheck.py``
  against the portal's Service) on the real node and exits 0.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory
from kubernetes import client

from provisioning.db import MIGRATIONS_DIR
from provisioning.engines.base import LABEL_MANAGED_BY, LABEL_STORE_ID, MANAGED_BY, SECRET_NAME
from tests.harness.kube import create_namespace, delete_namespace, unique_name
from tests.harness.localpath import STORAGE_CLASS
from tests.harness.realnode import NODE_LABELS, TAINT_KEY
from tests.helm.test_chart import CHART, RESTRICTED, Cluster, make_tools
from tests.real_node.conftest import POSTGRES_IMAGE, RealCluster
from tests.shared.inventory import WOOCOMMERCE_OBJECTS
from tests.shared.servers import api_request
from tests.shared.waiting import wait_for
from tools.images.build import IMAGES, build_image, rootfs_cached
from tools.images.platform_app import deps_cached

pytestmark = [pytest.mark.real_node, pytest.mark.cluster, pytest.mark.slow]

PLATFORM_IMAGE = IMAGES["platform"].ref
TOLERATION = {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
RELEASE = "sp"
STORE_OBJECTS = WOOCOMMERCE_OBJECTS


def _values(admin_password: str) -> dict[str, Any]:
    """The chart's values for the real node: imported images, its taint and label, its storage."""
    repository, tag = PLATFORM_IMAGE.rsplit(":", 1)
    pg_repository, pg_tag = POSTGRES_IMAGE.rsplit(":", 1)
    on_real_node = {"nodeSelector": dict(NODE_LABELS), "tolerations": [TOLERATION]}
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "logLevel": "DEBUG",
        "auth": {"adminPassword": admin_password},
        "portal": on_real_node,
        "worker": on_real_node,
        "tests": on_real_node,
        "postgresql": {
            **on_real_node,
            "image": {"repository": pg_repository, "tag": pg_tag, "pullPolicy": "Never"},
            # The stand-in's postgres user is 999 (the official Debian-based image's), not alpine's 70.
            "podSecurityContext": {
                "runAsNonRoot": True,
                "runAsUser": 999,
                "runAsGroup": 999,
                "fsGroup": 999,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "persistence": {"storageClass": STORAGE_CLASS, "size": "1Gi"},
        },
    }


def _pods(core: client.CoreV1Api, ns: str) -> dict[str, Any]:
    pods = core.list_namespaced_pod(ns, label_selector=f"app.kubernetes.io/instance={RELEASE}").items
    return {
        p.metadata.labels.get("app.kubernetes.io/component", "?"): p for p in pods if not p.metadata.deletion_timestamp
    }


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _diagnose(cluster: Cluster, ns: str) -> str:
    out = [cluster.kubectl("get", "pods,pvc,events", "-n", ns, "-o", "wide", check=False).stdout]
    for component in ("portal", "worker", "database"):
        logs = cluster.kubectl(
            "logs", "-n", ns, "-l", f"app.kubernetes.io/component={component}", "--all-containers",
            "--tail=60", check=False,
        )  # fmt: skip
        out.append(f"--- {component} ---\n{logs.stdout}{logs.stderr}")
    return "\n".join(out)


def _restarts(cluster: Cluster, ns: str, pod: Any) -> str:
    """Why a container restarted: its exit code and reason, and the log of the run that ended."""
    out = []
    for status in pod.status.container_statuses or []:
        ended = status.last_state.terminated if status.last_state else None
        if ended is None:
            continue
        previous = cluster.kubectl(
            "logs", "-n", ns, pod.metadata.name, "-c", status.name, "--previous", "--tail=60", check=False
        )
        out.append(
            f"--- {pod.metadata.name}/{status.name}: restarted {status.restart_count}x, exit {ended.exit_code} "
            f"({ended.reason}) at {ended.finished_at}; the ended run's log:\n{previous.stdout}{previous.stderr}"
        )
    return "\n".join(out)


def _psql(cluster: Cluster, ns: str, pod: str, sql: str) -> str:
    proc = cluster.kubectl(
        "exec", "-n", ns, pod, "-c", "postgresql", "--",
        "psql", "-h", "127.0.0.1", "-U", "store_platform", "-d", "store_platform", "-Atc", sql,
    )  # fmt: skip
    return proc.stdout.strip()


def test_chart_on_real_node_signs_in_orders_and_provisions(
    real_cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if not rootfs_cached("platform") or not deps_cached():
        pytest.skip("platform image not built: run `python -m tools.images.build platform` (make test-images)")
    cp, node = real_cluster.control_plane, real_cluster.node
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    archive = build_image("platform", log=False)
    timings["platform archive"] = round(time.monotonic() - t0, 1)
    timings["platform import"] = node.import_image(archive)
    node.expose_api_server()

    tools = make_tools(tmp_path_factory.mktemp("helm-home"))
    api = cp.api_client()
    cluster = Cluster(cp, tools, api)
    core = client.CoreV1Api(api)
    ns = create_namespace(api, unique_name("chart-real"), labels=RESTRICTED)
    password = "real-" + secrets.token_urlsafe(12)
    values = Path(tools.env["HOME"]) / "values-real-node.yaml"
    values.write_text(yaml.safe_dump(_values(password)))
    store_namespaces: list[str] = []
    try:
        t0 = time.monotonic()
        proc = cluster.helm(
            "install", RELEASE, str(CHART), "-n", ns, "-f", str(values),
            "--wait", "--timeout", "600s", check=False,
        )  # fmt: skip
        timings["helm install --wait"] = round(time.monotonic() - t0, 1)
        assert proc.returncode == 0, f"helm install failed:\n{proc.stdout}\n{proc.stderr}\n{_diagnose(cluster, ns)}"

        # Portal, worker and PostgreSQL: real pods on the real node, Ready through their probes.
        pods = _pods(core, ns)
        assert set(pods) >= {"portal", "worker", "database"}, sorted(pods)
        for component in ("portal", "worker", "database"):
            pod = pods[component]
            assert pod.spec.node_name == node.name, (component, pod.spec.node_name)
            assert _ready(pod), (component, pod.status.conditions)
            assert all(s.ready and s.restart_count == 0 for s in pod.status.container_statuses), (
                f"{component} restarted:\n{_restarts(cluster, ns, pod)}"
            )
        portal = pods["portal"].spec.containers[0]
        assert portal.startup_probe.http_get.path == "/_stcore/health" and portal.readiness_probe is not None
        assert pods["database"].spec.containers[0].readiness_probe._exec is not None
        assert pods["portal"].spec.containers[0].image == PLATFORM_IMAGE

        # Migrated: the schema in the stand-in PostgreSQL is at the repo's Alembic head.
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        head = ScriptDirectory.from_config(config).get_current_head()
        db_pod = pods["database"].metadata.name
        assert _psql(cluster, ns, db_pod, "SELECT version_num FROM alembic_version") == head
        tables = set(_psql(cluster, ns, db_pod, "SELECT tablename FROM pg_tables WHERE schemaname='public'").split())
        assert tables >= {"users", "stores", "audit_events", "worker_lease", "alembic_version"}, tables

        # Sign in through the portal's Service (ClusterIP, kube-proxy) and order a store.
        service = core.read_namespaced_service(f"{RELEASE}-store-platform-portal", ns)
        health = urllib.request.urlopen(f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}/_stcore/health")
        assert health.read() == b"ok"
        url = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"
        status, body = api_request(url, "GET", "/api/stores", user="admin", password="wrong-" + password)
        assert status == 401, (status, body)
        status, body = api_request(url, "GET", "/api/stores", user="admin", password=password)
        assert (status, body["count"]) == (200, 0), (status, body)
        name = unique_name("shop")[:20]
        status, store = api_request(
            url, "POST", "/api/stores", user="admin", password=password, body={"name": name, "type": "woocommerce"}
        )
        assert status in (201, 202), (status, store)
        store_namespaces.append(store["namespace"])

        # The worker in its pod, with the chart's ServiceAccount, provisions it.
        worker_pod = pods["worker"].metadata.name
        t0 = time.monotonic()

        def provisioned() -> bool:
            found = core.list_namespace(label_selector=f"{LABEL_STORE_ID}={store['id']}").items
            if not found:
                return False
            counts = _inventory(cluster, store["namespace"])
            return {k: counts.get(k, 0) for k in STORE_OBJECTS} == STORE_OBJECTS

        try:
            wait_for(provisioned, timeout=240, interval=2, message=f"store {name}'s namespace and objects")
        except AssertionError:
            raise AssertionError(f"{_inventory(cluster, store['namespace'])}\n{_diagnose(cluster, ns)}") from None
        timings["order -> store objects"] = round(time.monotonic() - t0, 1)
        store_ns = core.read_namespace(store["namespace"])
        assert store_ns.metadata.labels[LABEL_MANAGED_BY] == MANAGED_BY
        holder = _psql(cluster, ns, db_pod, "SELECT holder FROM worker_lease")
        assert holder.startswith(f"{worker_pod}:"), holder
        # Nothing else reconciles here (the portal runs with RUN_RECONCILER=false, the test
        # runs no reconciler): the lease holder is the worker pod, whose API calls reach the
        # API server through the kubernetes Service as the chart's ServiceAccount.
        assert node._api_forwarder is not None and node._api_forwarder.connections > 0
        assert pods["worker"].spec.service_account_name == f"{RELEASE}-store-platform-worker"
        secret = core.read_namespaced_secret(SECRET_NAME, store["namespace"])
        assert secret.data, "store credentials Secret is empty"

        # The store's own pods are on kwok nodes (no toleration for the real node's taint).
        store_pods = core.list_namespaced_pod(store["namespace"]).items
        assert all(p.spec.node_name != node.name for p in store_pods), [p.spec.node_name for p in store_pods]
        final = wait_for(
            lambda: (
                (r := api_request(url, "GET", f"/api/stores/{store['id']}", user="admin", password=password)[1])
                and r["status"] in ("ready", "failed")
                and r
            ),
            timeout=240,
            interval=2,
            message=f"store {name} to settle",
        )
        timings["order -> store settled"] = round(time.monotonic() - t0, 1)
        assert final["status"] == "ready", final

        # helm test: the chart's test pod on the real node, through the portal's Service.
        t0 = time.monotonic()
        proc = cluster.helm("test", RELEASE, "-n", ns, "--timeout", "300s", check=False)
        timings["helm test"] = round(time.monotonic() - t0, 1)
        assert proc.returncode == 0, f"helm test failed:\n{proc.stdout}\n{proc.stderr}\n{_diagnose(cluster, ns)}"
        assert "Succeeded" in proc.stdout, proc.stdout
        # The pod is gone (hook-succeeded); its events say where it ran and that the kubelet ran it.
        test_pod = f"{RELEASE}-store-platform-test-health"
        events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={test_pod}").items
        reasons = {e.reason: e.message for e in events}
        assert node.name in reasons.get("Scheduled", ""), reasons
        assert "Started" in reasons, reasons
        print(f"[chart-real] timings: {timings}")
    finally:
        if os.environ.get("KEEP_CHART_RELEASE"):
            print(f"[chart-real] kept namespace {ns}")
        else:
            cluster.helm("uninstall", RELEASE, "-n", ns, "--wait", "--timeout", "120s", check=False)
            for namespace in [*store_namespaces, ns]:
                with contextlib.suppress(client.ApiException):
                    delete_namespace(api, namespace, wait=False)
        api.close()
        shutil.rmtree(tools.env["HOME"], ignore_errors=True)


def _inventory(cluster: Cluster, namespace: str) -> dict[str, int]:
    kinds = "secrets,services,pvc,resourcequotas,limitranges,statefulsets,deployments,jobs,networkpolicies,ingresses"
    proc = cluster.kubectl(
        "get", kinds, "-n", namespace, "-o", "jsonpath={range .items[*]}{.kind}{'\\n'}{end}", check=False
    )
    counts: dict[str, int] = {}
    for kind in proc.stdout.split():
        counts[kind] = counts.get(kind, 0) + 1
    return counts
