"""Real containers on the real node: probes, a Service through kube-proxy, a real volume.

One scenario, in the order a store's database needs it: the PostgreSQL stand-in runs under
the ``restricted`` Pod Security profile as uid 999 on a PVC of the local-path provisioner,
becomes Ready through its exec probe (``pg_isready``), is reached from another pod through
its Service's ClusterIP (kube-proxy, nftables), its logs come back through the API server
(kubelet client certificate), and its data is deleted from disk when the claim goes away.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.harness.kube import create_namespace, delete_namespace, exists, unique_name, wait_for
from tests.harness.localpath import PATH_ANNOTATION, STORAGE_CLASS
from tests.harness.realnode import pod_on_real_node
from tests.real_node.conftest import POSTGRES_IMAGE, RealCluster

pytestmark = [pytest.mark.real_node, pytest.mark.cluster, pytest.mark.slow]

PASSWORD = "test-only-password"  # a throwaway database in a throwaway namespace

RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 999,
    "runAsGroup": 999,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}


def _pod(name: str, labels: dict[str, str], container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body = {
        "securityContext": RESTRICTED_POD,
        "containers": [
            {
                "image": POSTGRES_IMAGE,
                "imagePullPolicy": "Never",
                "securityContext": RESTRICTED_CONTAINER,
                "resources": RESOURCES,
                **container,
            }
        ],
        "terminationGracePeriodSeconds": 5,
        "automountServiceAccountToken": False,
        **spec,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": pod_on_real_node(body),
    }


def _describe(core: client.CoreV1Api, ns: str, name: str) -> str:
    pod: Any = core.read_namespaced_pod(name, ns)
    events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    lines = [f"phase={pod.status.phase} conditions={[(c.type, c.status) for c in pod.status.conditions or []]}"]
    lines += [f"{e.type} {e.reason}: {e.message}" for e in events]
    return "\n".join(lines)


def test_postgres_standin_on_real_node_serves_through_service_and_volume(real_cluster: RealCluster) -> None:
    api = real_cluster.control_plane.api_client()
    core = client.CoreV1Api(api)
    ns = create_namespace(
        api,
        unique_name("real"),
        labels={
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    )
    try:
        core.create_namespaced_persistent_volume_claim(
            ns,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": STORAGE_CLASS,
                    "resources": {"requests": {"storage": "256Mi"}},
                },
            },
        )
        db_container = {
            "name": "postgres",
            "env": [
                {"name": "POSTGRES_USER", "value": "store"},
                {"name": "POSTGRES_PASSWORD", "value": PASSWORD},
                {"name": "POSTGRES_DB", "value": "shop"},
                # The official image's advice for a mount it cannot chown: a subdirectory.
                {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
            ],
            "ports": [{"containerPort": 5432, "name": "pg"}],
            "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
            "readinessProbe": {
                "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "store", "-d", "shop"]},
                "periodSeconds": 1,
                "failureThreshold": 60,
            },
        }
        t0 = time.monotonic()
        core.create_namespaced_pod(
            ns,
            _pod(
                "db",
                {"app": "db"},
                db_container,
                volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            ),
        )

        def db_ready() -> bool:
            pod: Any = core.read_namespaced_pod("db", ns)
            conds = {c.type: c.status for c in pod.status.conditions or []}
            return conds.get("Ready") == "True"

        try:
            wait_for(db_ready, timeout=120, interval=0.25, message="postgres stand-in pod Ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_describe(core, ns, 'db')}") from None
        real_cluster.timings["postgres pod Ready"] = round(time.monotonic() - t0, 2)
        db: Any = core.read_namespaced_pod("db", ns)
        assert db.spec.node_name == real_cluster.node.name
        assert db.status.pod_ip.startswith("10.85.0.")
        # exec through the API server to the kubelet (its kubelet client certificate).
        out = real_cluster.control_plane.kubectl("exec", "-n", ns, "db", "--", "id", "-u", check=False)
        assert (out.returncode, out.stdout.strip()) == (0, "999"), out.stderr

        svc: Any = core.create_namespaced_service(
            ns,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "db"},
                "spec": {"selector": {"app": "db"}, "ports": [{"port": 5432, "targetPort": "pg"}]},
            },
        )
        cluster_ip = svc.spec.cluster_ip
        sql = "CREATE TABLE orders(id int); INSERT INTO orders VALUES (42); SELECT 'answer=' || id FROM orders;"
        client_container = {
            "name": "psql",
            "command": ["sh", "-c"],
            # Retry briefly: kube-proxy programs the new Service within a second or so.
            "args": [
                f"for i in $(seq 1 60); do pg_isready -h {cluster_ip} -p 5432 -t 1 && break; sleep 0.5; done; "
                f'psql -h {cluster_ip} -U store -d shop -v ON_ERROR_STOP=1 -Atc "{sql}"'
            ],
            "env": [{"name": "PGPASSWORD", "value": PASSWORD}],
        }
        t1 = time.monotonic()
        core.create_namespaced_pod(ns, _pod("client", {"app": "client"}, client_container, restartPolicy="Never"))

        def client_done() -> str | None:
            phase = core.read_namespaced_pod("client", ns).status.phase
            return phase if phase in ("Succeeded", "Failed") else None

        phase = wait_for(client_done, timeout=120, interval=0.25, message="psql client pod to finish")
        real_cluster.timings["client pod done"] = round(time.monotonic() - t1, 2)
        # Logs come from the kubelet through the API server (its kubelet client certificate).
        logs = core.read_namespaced_pod_log("client", ns)
        assert phase == "Succeeded", f"client pod {phase}; logs:\n{logs}\n{_describe(core, ns, 'client')}"
        assert "answer=42" in logs, logs

        # The data really is on the node's disk, written by uid 999 into a 0777 directory.
        pvc: Any = core.read_namespaced_persistent_volume_claim("data", ns)
        pv: Any = core.read_persistent_volume(pvc.spec.volume_name)
        host_dir = Path(pv.metadata.annotations[PATH_ANNOTATION])
        assert (host_dir / "pgdata" / "PG_VERSION").read_text().strip() == "15"
        assert (host_dir / "pgdata").stat().st_uid == 999
        assert host_dir.stat().st_mode & 0o777 == 0o777
        print(f"[realnode] timings: {real_cluster.timings}")
    finally:
        delete_namespace(api, ns, timeout=120)

    # Releasing the claim deletes the PV and the data on disk.
    wait_for(
        lambda: not exists(lambda: core.read_persistent_volume(pv.metadata.name)),
        timeout=60,
        message=f"PV {pv.metadata.name} deleted",
    )
    assert not host_dir.exists()
    api.close()
