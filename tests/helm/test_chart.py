"""The Helm chart, from `helm lint` to a real install on the test control plane.

Three layers, cheapest first:
- render: `helm lint --strict` and `helm template` for each values file, with the rendered
  objects checked for what the chart promises (security context, env, ingress, RBAC, the
  local/prod differences). Needs only the helm binary.
- server-side dry run: every rendered object is validated by the real API server
  (`kubectl apply --dry-run=server`) in a namespace that enforces Pod Security "restricted".
- install: `helm install` with values-local into the harness cluster (kwok marks pods
  Ready; no container runs, so nothing here expects HTTP), then upgrade, rollback and
  uninstall, and the reconciler run in-process with the worker ServiceAccount's own token
  to prove the ClusterRole is enough, while everything else stays forbidden.

The binaries come from tools/k8s/build.sh (helm and kubectl are built with the control
plane); without them every test here skips with the reason.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from provisioning.db import make_engine, migrate
from provisioning.engines.base import LABEL_MANAGED_BY, MANAGED_BY, SECRET_NAME
from provisioning.kube import KubeCluster
from provisioning.models import StoreStatus
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from provisioning.watch.cached_cluster import CachedCluster
from tests.conftest import make_settings
from tests.harness.binaries import find_binaries, read_versions
from tests.harness.controlplane import ControlPlane
from tests.harness.kube import create_namespace, delete_namespace, unique_name, wait_for

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "store-platform"
VALUES_FILES = ("values.yaml", "values-local.yaml", "values-prod.yaml")
IMAGE_OVERRIDES = ("--set", "image.repository=registry.invalid/store-platform", "--set", "image.tag=test")
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
}
SETTINGS_ENV = {f.metadata["env"] for f in fields(Settings)}

# The ClusterRole contract: exactly what provisioning/kube.py sends for the reconciler
# (apply = PATCH, create_if_absent = POST, delete, get, list) and the readiness caches follow
# (list + watch: provisioning/watch/cached_cluster.py), by (apiGroup, resource).
WORKER_RULES: dict[tuple[str, str, tuple[str, ...]], set[str]] = {
    ("", "namespaces", ()): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "serviceaccounts", ()): {"get", "list", "watch"},
    ("", "resourcequotas", ()): {"create", "patch"},
    ("", "limitranges", ()): {"create", "patch"},
    ("", "services", ()): {"create", "patch"},
    ("", "persistentvolumeclaims", ()): {"get", "create", "patch"},  # get and patch: a plan change grows claims
    ("storage.k8s.io", "storageclasses", ()): {"get"},  # ...where the claim's StorageClass allows expansion
    ("", "secrets", ()): {"create"},
    ("", "secrets", (SECRET_NAME,)): {"get"},
    ("", "events", ()): {"list", "watch"},
    ("", "nodes", ()): {"list"},
    ("", "pods", ()): {"list", "watch"},
    ("", "configmaps", ()): {"create", "patch"},
    ("apps", "statefulsets", ()): {"get", "list", "watch", "create", "patch"},
    ("apps", "deployments", ()): {"get", "list", "watch", "create", "patch"},
    ("batch", "jobs", ()): {"get", "list", "watch", "create", "patch", "delete"},
    ("batch", "cronjobs", ()): {"create", "patch"},
    ("networking.k8s.io", "networkpolicies", ()): {"create", "patch"},
    ("networking.k8s.io", "ingresses", ()): {"get", "list", "watch", "create", "patch", "delete"},
}
PORTAL_RULES = {
    ("", "secrets", (SECRET_NAME,)): {"get"},
    ("", "events", ()): {"list"},
    ("", "pods", ()): {"list"},
    ("", "resourcequotas", ("store-quota",)): {"get"},
    ("", "pods/log", ()): {"get"},
    ("", "nodes", ()): {"list"},
}


# -- tools ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    helm: Path
    kube_version: str
    env: dict[str, str]

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.helm), *args], input=input, capture_output=True, text=True, env=self.env, timeout=300
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc


def make_tools(home: Path) -> Tools:
    """helm (built with the control plane, or STORE_PLATFORM_HELM) with its caches, config
    and kubeconfig under ``home``: never the developer's own."""
    bin_dir = find_binaries()
    helm = bin_dir / "helm" if bin_dir else None
    if helm is None:
        found = os.environ.get("STORE_PLATFORM_HELM") or shutil.which("helm")
        helm = Path(found) if found else None
    if helm is None or not os.access(helm, os.X_OK):
        pytest.skip("helm not built: run tools/k8s/build.sh (make test does), or set STORE_PLATFORM_HELM")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        # Keep helm's caches and repository config out of the developer's home.
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        # Never the developer's cluster unless a test sets it.
        "KUBECONFIG": str(home / "no-kubeconfig"),
    }
    return Tools(helm=helm, kube_version=read_versions()["KUBERNETES_VERSION"].lstrip("v"), env=env)


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    return make_tools(tmp_path_factory.mktemp("helm-home"))


def render(tools: Tools, values_file: str = "values.yaml", *args: str, namespace: str = "store-platform") -> list[dict]:
    out = tools.run(
        "template",
        "sp",
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        tools.kube_version,
        "-f",
        str(CHART / values_file),
        *args,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(docs: list[dict], kind: str, name_suffix: str = "") -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(matches) == 1, f"expected one {kind} *{name_suffix}, found {[m['metadata']['name'] for m in matches]}"
    return matches[0]


def pod_specs(docs: list[dict]) -> Iterator[tuple[str, dict]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Job":
            yield f"Job/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc["spec"]


def env_of(container: dict) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def quantity(value: str | int | float) -> float:
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# -- render --------------------------------------------------------------------------------


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_lint_strict(tools: Tools, values_file: str) -> None:
    result = tools.run("lint", "--strict", str(CHART), "-f", str(CHART / values_file))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_every_pod_is_non_root_hardened_and_bounded(tools: Tools, values_file: str) -> None:
    docs = render(tools, values_file, "--set", "uninstall.deleteStores=true")
    seen = []
    for where, spec in pod_specs(docs):
        seen.append(where)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["runAsUser"] == (70 if "postgresql" in where else 10001), where
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            name = f"{where}:{container['name']}"
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["runAsNonRoot"] is True, name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{name} {kind}"
            assert ":" in container["image"] and not container["image"].endswith(":latest"), name
        wants_api = spec.get("serviceAccountName", "").endswith(("-portal", "-worker"))
        assert spec["automountServiceAccountToken"] is wants_api, where
    assert {w.split("/")[0] for w in seen} == {"Deployment", "StatefulSet", "Job", "Pod"}


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_environment_matches_the_settings_the_app_reads(tools: Tools, values_file: str) -> None:
    docs = render(tools, values_file)
    configmap = find(docs, "ConfigMap", "-config")["data"]
    secret = {k: base64.b64decode(v).decode() for k, v in find(docs, "Secret", "store-platform")["data"].items()}
    unknown = {k for k in configmap if k not in SETTINGS_ENV and k != "LOG_LEVEL" and not k.startswith("STREAMLIT_")}
    assert not unknown, f"the app reads no such setting: {unknown}"
    for required in (
        "DOMAIN",
        "INGRESS_CLASS",
        "INGRESS_CONTROLLER_NAMESPACE",
        "STORAGE_CLASS",
        "TLS_ENABLED",
        "CERT_MANAGER_CLUSTER_ISSUER",
        "STORE_URL_SCHEME",
        "MAX_STORES_PER_USER",
        "MAX_CREATES_PER_HOUR",
        "MAX_CONCURRENT_PROVISIONING",
        "PROVISIONING_TIMEOUT_SECONDS",
        "LOG_LEVEL",
    ):
        assert required in configmap, required
    # The values parse into valid Settings, exactly as the pods will read them.
    settings = Settings.from_env({**configmap, **secret, "RUN_RECONCILER": "false"})
    assert settings.database_url.startswith("postgresql://")
    assert settings.admin_password and settings.cookie_key

    for component in ("portal", "worker"):
        container = find(docs, "Deployment", f"-{component}")["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        for name in ("DATABASE_URL", "ADMIN_USERNAME", "ADMIN_PASSWORD", "COOKIE_KEY"):
            assert env[name]["secretKeyRef"]["name"] == "sp-store-platform", (component, name)
        assert env["HOME"] == "/tmp"
        assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
        assert container["envFrom"] == [{"configMapRef": {"name": "sp-store-platform-config"}}]
    portal = find(docs, "Deployment", "-portal")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(portal)["RUN_RECONCILER"] == "false"
    worker = find(docs, "Deployment", "-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == ["python", "-m", "provisioning.worker"]
    # Its only port is Prometheus's (/metrics, METRICS_PORT); no probe (worker.yaml says why).
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert env_of(worker)["METRICS_PORT"] == "9090" and "readinessProbe" not in worker


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_portal_probes_and_service(tools: Tools, values_file: str) -> None:
    docs = render(tools, values_file)
    container = find(docs, "Deployment", "-portal")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["streamlit", "run", "asgi.py"]
    assert container["ports"] == [{"name": "http", "containerPort": 8501, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}, probe
    service = find(docs, "Service", "-portal")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    test_pod = find(docs, "Pod", "-test-health")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert test_pod["spec"]["containers"][0]["command"][-1] == "http://sp-store-platform-portal:80/_stcore/health"


def test_local_and_prod_differ_as_documented(tools: Tools) -> None:
    local, prod = render(tools, "values-local.yaml"), render(tools, "values-prod.yaml")

    def config_of(docs: list[dict]) -> dict[str, str]:
        return find(docs, "ConfigMap", "-config")["data"]

    def replicas(docs: list[dict], component: str) -> int:
        return find(docs, "Deployment", f"-{component}")["spec"]["replicas"]

    def resources(docs: list[dict], kind: str, suffix: str) -> dict:
        return find(docs, kind, suffix)["spec"]["template"]["spec"]["containers"][0]["resources"]

    lc, pc = config_of(local), config_of(prod)
    assert (lc["DOMAIN"], pc["DOMAIN"]) == ("stores.localhost", "stores.example.com")
    assert (lc["STORAGE_CLASS"], pc["STORAGE_CLASS"]) == ("", "fast-ssd")
    assert (lc["TLS_ENABLED"], pc["TLS_ENABLED"]) == ("false", "true")
    assert (lc["STORE_URL_SCHEME"], pc["STORE_URL_SCHEME"]) == ("http", "https")
    assert pc["CERT_MANAGER_CLUSTER_ISSUER"] and not lc["CERT_MANAGER_CLUSTER_ISSUER"]
    assert (lc["MAX_STORES_PER_USER"], pc["MAX_STORES_PER_USER"]) == ("10", "100")
    assert (lc["MAX_CONCURRENT_PROVISIONING"], pc["MAX_CONCURRENT_PROVISIONING"]) == ("3", "10")
    assert (replicas(local, "portal"), replicas(prod, "portal")) == (1, 3)
    assert (replicas(local, "worker"), replicas(prod, "worker")) == (1, 2)
    pvc = find(prod, "StatefulSet", "-postgresql")["spec"]["volumeClaimTemplates"][0]["spec"]
    assert pvc["storageClassName"] == "fast-ssd"
    assert (
        "storageClassName" not in find(local, "StatefulSet", "-postgresql")["spec"]["volumeClaimTemplates"][0]["spec"]
    )
    for kind, suffix in (("Deployment", "-portal"), ("Deployment", "-worker"), ("StatefulSet", "-postgresql")):
        small, big = resources(local, kind, suffix), resources(prod, kind, suffix)
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert quantity(big[section][resource]) > quantity(small[section][resource]), (
                    kind,
                    suffix,
                    section,
                    resource,
                )
    # A PodDisruptionBudget only where there is more than one portal pod.
    assert not [d for d in local if d["kind"] == "PodDisruptionBudget"]
    assert find(prod, "PodDisruptionBudget", "-portal")["spec"]["minAvailable"] == 2


def test_ingress_is_websocket_friendly_sticky_when_scaled_and_tls_in_prod(tools: Tools) -> None:
    local = find(render(tools, "values-local.yaml"), "Ingress", "-portal")
    prod = find(render(tools, "values-prod.yaml"), "Ingress", "-portal")
    for ingress in (local, prod):
        notes = ingress["metadata"]["annotations"]
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert notes["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
        assert notes["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": "sp-store-platform-portal", "port": {"name": "http"}}
    assert local["spec"]["rules"][0]["host"] == "dashboard.stores.localhost"
    assert prod["spec"]["rules"][0]["host"] == "dashboard.stores.example.com"
    # One portal replica: no affinity; three: a cookie pins each browser to its session's pod.
    assert "nginx.ingress.kubernetes.io/affinity" not in local["metadata"]["annotations"]
    assert prod["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert "tls" not in local["spec"]
    assert prod["spec"]["tls"] == [
        {"hosts": ["dashboard.stores.example.com"], "secretName": "sp-store-platform-dashboard-tls"}
    ]
    assert prod["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    # Forcing stickiness off wins even with three replicas.
    forced = find(render(tools, "values-prod.yaml", "--set", "ingress.stickySessions=false"), "Ingress", "-portal")
    assert "nginx.ingress.kubernetes.io/affinity" not in forced["metadata"]["annotations"]


def test_traefik_for_k3s(tools: Tools) -> None:
    docs = render(
        tools,
        "values-local.yaml",
        "--set",
        "ingress.className=traefik",
        "--set",
        "ingress.controllerNamespace=kube-system",
        "--set",
        "portal.replicas=2",
    )
    ingress = find(docs, "Ingress", "-portal")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert not any(k.startswith("nginx.") for k in ingress["metadata"].get("annotations", {}))
    service = find(docs, "Service", "-portal")
    assert service["metadata"]["annotations"]["traefik.ingress.kubernetes.io/service.sticky.cookie"] == "true"
    configmap = find(docs, "ConfigMap", "-config")["data"]
    assert (configmap["INGRESS_CLASS"], configmap["INGRESS_CONTROLLER_NAMESPACE"]) == ("traefik", "kube-system")
    policy = find(docs, "NetworkPolicy", "-portal-ingress")
    selectors = [p.get("namespaceSelector") for p in policy["spec"]["ingress"][0]["from"]]
    assert {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}} in selectors


def test_cluster_roles_grant_exactly_what_provisioning_uses(tools: Tools) -> None:
    docs = render(tools)

    def rules_of(suffix: str) -> dict[tuple[str, str, tuple[str, ...]], set[str]]:
        role = find(docs, "ClusterRole", suffix)
        table: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    key = (group, resource, tuple(rule.get("resourceNames", ())))
                    table.setdefault(key, set()).update(rule["verbs"])
        return table

    assert rules_of("-worker-store-platform") == WORKER_RULES
    assert rules_of("-portal-store-platform") == PORTAL_RULES
    bindings = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRoleBinding"}
    assert bindings["sp-store-platform-worker-store-platform"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "sp-store-platform-worker", "namespace": "store-platform"}
    ]
    assert bindings["sp-store-platform-portal-store-platform"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "sp-store-platform-portal", "namespace": "store-platform"}
    ]
    # No Role in the platform's own namespace: it needs nothing there.
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding")]
    # Nothing of the release may carry the label that marks store namespaces.
    for doc in docs:
        assert doc["metadata"].get("labels", {}).get(LABEL_MANAGED_BY) != MANAGED_BY, doc["metadata"]["name"]


def test_generated_secrets_and_database_url(tools: Tools) -> None:
    first = find(render(tools), "Secret", "store-platform")
    second = find(render(tools), "Secret", "store-platform")
    data = {k: base64.b64decode(v).decode() for k, v in first["data"].items()}
    assert set(data) == {"ADMIN_USERNAME", "ADMIN_PASSWORD", "COOKIE_KEY", "POSTGRES_PASSWORD", "DATABASE_URL"}
    assert len(data["ADMIN_PASSWORD"]) == 24 and data["ADMIN_PASSWORD"].isalnum()
    assert len(data["COOKIE_KEY"]) == 48 and len(data["POSTGRES_PASSWORD"]) == 32
    assert data["DATABASE_URL"] == (
        f"postgresql://store_platform:{data['POSTGRES_PASSWORD']}@sp-store-platform-postgresql:5432/store_platform"
    )
    # Without a cluster to look up, every render generates new values (an install keeps them).
    assert first["data"]["ADMIN_PASSWORD"] != second["data"]["ADMIN_PASSWORD"]
    assert first["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Values given explicitly win.
    pinned = find(render(tools, "values.yaml", "--set", "auth.adminPassword=chosen-one"), "Secret", "store-platform")
    assert base64.b64decode(pinned["data"]["ADMIN_PASSWORD"]).decode() == "chosen-one"


def test_external_database(tools: Tools) -> None:
    docs = render(
        tools,
        "values.yaml",
        "--set",
        "postgresql.enabled=false",
        "--set",
        "externalDatabase.existingSecret=platform-db",
    )
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    secret = find(docs, "Secret", "store-platform")
    assert set(secret["data"]) == {"ADMIN_USERNAME", "ADMIN_PASSWORD", "COOKIE_KEY"}
    for component in ("portal", "worker"):
        spec = find(docs, "Deployment", f"-{component}")["spec"]["template"]["spec"]
        assert "initContainers" not in spec
        ref = env_of(spec["containers"][0])["DATABASE_URL"]["secretKeyRef"]
        assert ref == {"name": "platform-db", "key": "DATABASE_URL"}
    egress = find(docs, "NetworkPolicy", "-app-egress")["spec"]["egress"]
    assert any(rule["ports"] == [{"protocol": "TCP", "port": 5432}] and "ipBlock" in rule["to"][0] for rule in egress)

    by_url = render(
        tools, "values.yaml", "--set", "postgresql.enabled=false", "--set", "externalDatabase.url=sqlite://x"
    )
    data = find(by_url, "Secret", "store-platform")["data"]
    assert base64.b64decode(data["DATABASE_URL"]).decode() == "sqlite://x"

    failed = tools.run(
        "template", "sp", str(CHART), "--kube-version", tools.kube_version, "--set", "postgresql.enabled=false",
        check=False,
    )  # fmt: skip
    assert failed.returncode != 0 and "externalDatabase" in failed.stderr


def test_backups_storage_settings_keys_from_a_secret_and_egress(tools: Tools) -> None:
    assert not [k for k in find(render(tools), "ConfigMap", "-config")["data"] if k.startswith("BACKUP_S3_")]
    docs = render(
        tools,
        "values.yaml",
        "--set", "backups.s3.endpoint=http://minio.storage:9000",
        "--set", "backups.s3.existingSecret=backup-keys",
        "--set", "backups.s3.egressCidrs={10.20.0.0/16}",
        "--set", "backups.intervalHours=24",
    )  # fmt: skip
    configmap = find(docs, "ConfigMap", "-config")["data"]
    assert configmap["BACKUP_S3_ENDPOINT"] == "http://minio.storage:9000"
    assert (configmap["BACKUP_INTERVAL_HOURS"], configmap["BACKUP_RETENTION"]) == ("24", "7")
    assert not [k for k in configmap if "KEY" in k], "the bucket's keys never go in the ConfigMap"
    for component in ("portal", "worker"):
        env = env_of(find(docs, "Deployment", f"-{component}")["spec"]["template"]["spec"]["containers"][0])
        assert env["BACKUP_S3_ACCESS_KEY_ID"]["secretKeyRef"] == {"name": "backup-keys", "key": "access-key-id"}
        assert env["BACKUP_S3_SECRET_ACCESS_KEY"]["secretKeyRef"] == {"name": "backup-keys", "key": "secret-access-key"}
    settings = Settings.from_env({**configmap, "BACKUP_S3_ACCESS_KEY_ID": "k", "BACKUP_S3_SECRET_ACCESS_KEY": "s"})
    assert settings.backups_configured and settings.backup_egress_cidrs == ["10.20.0.0/16"]
    egress = find(docs, "NetworkPolicy", "-app-egress")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 9000}]} in egress

    failed = tools.run(
        "template", "sp", str(CHART), "--kube-version", tools.kube_version,
        "--set", "backups.s3.endpoint=https://s3.example.com", check=False,
    )  # fmt: skip
    assert failed.returncode != 0 and "backups.s3.existingSecret" in failed.stderr


def test_uninstall_policy_flags(tools: Tools) -> None:
    default = render(tools)
    assert not [d for d in default if d["kind"] == "Job"]
    sts = find(default, "StatefulSet", "-postgresql")
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"

    opted = render(
        tools, "values.yaml", "--set", "uninstall.deleteStores=true", "--set", "uninstall.deletePlatformData=true"
    )
    job = find(opted, "Job", "-delete-stores")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "sp-store-platform-worker"
    assert f"{LABEL_MANAGED_BY}={MANAGED_BY}" in job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    sts = find(opted, "StatefulSet", "-postgresql")
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    assert "annotations" not in find(opted, "Secret", "store-platform")["metadata"]


def test_schema_rejects_typos_and_bad_values(tools: Tools) -> None:
    for bad in ("portal.replica=2", "portal.replicas=0", "image.tag=latest", "stores.maxPerUser=0", "logLevel=LOUD"):
        result = tools.run(
            "template", "sp", str(CHART), "--kube-version", tools.kube_version, "--set", bad, check=False
        )
        assert result.returncode != 0, bad


# -- against the real API server ----------------------------------------------------------


@dataclass
class Cluster:
    cp: ControlPlane
    tools: Tools
    api: client.ApiClient

    @property
    def env(self) -> dict[str, str]:
        return dict(self.tools.env, KUBECONFIG=str(self.cp.kubeconfig))

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return Tools(self.tools.helm, self.tools.kube_version, self.env).run(*args, check=check)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.cp.bin_dir / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def install(self, release: str, namespace: str, *args: str) -> str:
        return self.helm(
            "install", release, str(CHART), "-n", namespace, "-f", str(CHART / "values-local.yaml"),
            *IMAGE_OVERRIDES, "--wait", "--timeout", "180s", *args,
        ).stdout  # fmt: skip

    def pods_ready(self, namespace: str, release: str) -> dict[str, int]:
        core = client.CoreV1Api(self.api)
        pods = core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={release}").items
        ready: dict[str, int] = {}
        for pod in pods:
            if pod.metadata.deletion_timestamp is not None:
                continue
            conditions = {c.type: c.status for c in (pod.status.conditions or [])}
            if conditions.get("Ready") == "True":
                component = pod.metadata.labels.get("app.kubernetes.io/component", "")
                ready[component] = ready.get(component, 0) + 1
        return ready

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        secret = client.CoreV1Api(self.api).read_namespaced_secret(name, namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def cleanup(self, release: str, namespaces: list[str]) -> None:
        self.helm("uninstall", release, "-n", namespaces[0], "--wait", "--timeout", "60s", check=False)
        for ns in namespaces:
            with contextlib.suppress(ApiException):
                delete_namespace(self.api, ns, wait=False)


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane, kube_api: client.ApiClient, tools: Tools) -> Cluster:
    if not (control_plane.bin_dir / "kubectl").exists():
        pytest.skip("kubectl not built: run tools/k8s/build.sh")
    return Cluster(control_plane, tools, kube_api)


def restricted_namespace(cluster: Cluster, prefix: str) -> str:
    return create_namespace(cluster.api, unique_name(prefix), labels=RESTRICTED)


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_server_side_dry_run_of_every_object(cluster: Cluster, values_file: str) -> None:
    namespace = restricted_namespace(cluster, "dryrun")
    try:
        manifest = cluster.tools.run(
            "template", "sp", str(CHART), "-n", namespace, "--kube-version", cluster.tools.kube_version,
            "-f", str(CHART / values_file), "--set", "uninstall.deleteStores=true",
        ).stdout  # fmt: skip
        kinds = {doc["kind"] for doc in yaml.safe_load_all(manifest) if doc}
        assert {"Deployment", "StatefulSet", "Service", "Ingress", "NetworkPolicy", "ClusterRole", "Secret"} <= kinds
        result = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=manifest)
        applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
        count = sum(1 for doc in yaml.safe_load_all(manifest) if doc)
        assert len(applied) == count, result.stdout
        # Pod Security "restricted" would warn about any workload that breaks it.
        assert "PodSecurity" not in result.stderr, result.stderr
    finally:
        delete_namespace(cluster.api, namespace, wait=False)


def test_install_upgrade_rollback_uninstall(cluster: Cluster) -> None:
    namespace = restricted_namespace(cluster, "platform")
    release = "sp"
    store_ns = unique_name("store-kept")
    secret_name = f"{release}-store-platform"
    try:
        out = cluster.install(release, namespace)
        notes = out.split("NOTES:", 1)[1]
        assert (
            f"kubectl -n {namespace} get secret {secret_name} -o jsonpath='{{.data.ADMIN_PASSWORD}}' | base64 -d"
            in notes
        )
        assert "http://dashboard.stores.localhost/" in notes
        assert "kubectl delete ns -l app.kubernetes.io/managed-by=store-platform" in notes
        wait_for(
            lambda: (
                (ready := cluster.pods_ready(namespace, release)).get("portal", 0) >= 1
                and ready.get("worker", 0) >= 1
                and ready.get("database", 0) >= 1
            ),
            timeout=120,
            message="portal, worker and postgres pods Ready",
        )
        installed = cluster.secret_data(namespace, secret_name)
        assert set(installed) >= {"ADMIN_PASSWORD", "COOKIE_KEY", "POSTGRES_PASSWORD", "DATABASE_URL"}
        core = client.CoreV1Api(cluster.api)
        pvcs = core.list_namespaced_persistent_volume_claim(namespace).items
        assert [p.status.phase for p in pvcs] == ["Bound"], "the PostgreSQL volume is bound"

        def config_value(key: str) -> str:
            cm = core.read_namespaced_config_map(f"{release}-store-platform-config", namespace)
            return cm.data[key]

        assert config_value("MAX_STORES_PER_USER") == "10"

        # Upgrade: a setting changes, the generated secrets do not.
        cluster.helm(
            "upgrade", release, str(CHART), "-n", namespace, "-f", str(CHART / "values-local.yaml"),
            *IMAGE_OVERRIDES, "--set", "stores.maxPerUser=25", "--wait", "--timeout", "180s",
        )  # fmt: skip
        assert config_value("MAX_STORES_PER_USER") == "25"
        assert cluster.secret_data(namespace, secret_name) == installed

        # Rollback: revision 3 is revision 1 again.
        cluster.helm("rollback", release, "1", "-n", namespace, "--wait", "--timeout", "180s")
        history = json.loads(cluster.helm("history", release, "-n", namespace, "-o", "json").stdout)
        assert [h["revision"] for h in history] == [1, 2, 3]
        assert history[-1]["status"] == "deployed"
        assert config_value("MAX_STORES_PER_USER") == "10"
        assert cluster.secret_data(namespace, secret_name) == installed
        wait_for(
            lambda: cluster.pods_ready(namespace, release).get("portal", 0) >= 1,
            timeout=120,
            message="portal Ready after rollback",
        )

        # Uninstall leaves store namespaces (users' data), the Secret and the database volume.
        create_namespace(cluster.api, store_ns, labels={LABEL_MANAGED_BY: MANAGED_BY}, wait_for_service_account=False)
        cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s")
        assert core.read_namespace(store_ns).status.phase == "Active"
        apps = client.AppsV1Api(cluster.api)
        wait_for(
            lambda: (
                not apps.list_namespaced_deployment(namespace).items
                and not apps.list_namespaced_stateful_set(namespace).items
            ),
            timeout=60,
            message="workloads removed",
        )
        rbac = client.RbacAuthorizationV1Api(cluster.api)
        assert not [
            r.metadata.name
            for r in rbac.list_cluster_role().items
            if r.metadata.name.startswith(f"{release}-store-platform")
        ]
        assert cluster.secret_data(namespace, secret_name) == installed
        assert len(core.list_namespaced_persistent_volume_claim(namespace).items) == 1

        # A reinstall under the same name adopts the kept Secret: same passwords, same data.
        cluster.install(release, namespace)
        assert cluster.secret_data(namespace, secret_name) == installed
        cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "120s")
        assert core.read_namespace(store_ns).status.phase == "Active"
    finally:
        cluster.cleanup(release, [namespace, store_ns])


# -- RBAC: the reconciler works as the worker ServiceAccount, and nothing more -------------


@pytest.fixture(scope="module")
def rbac_release(cluster: Cluster) -> Iterator[tuple[str, str]]:
    namespace = restricted_namespace(cluster, "rbac")
    release = "rbac"
    try:
        cluster.install(release, namespace)
        yield release, namespace
    finally:
        cluster.cleanup(release, [namespace])


def service_account_kubeconfig(cluster: Cluster, namespace: str, account: str) -> Path:
    """A kubeconfig with a real token of the ServiceAccount (TokenRequest), as its pods get."""
    token = cluster.kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(cluster.cp.kubeconfig.read_text())
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": admin["clusters"],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": admin["clusters"][0]["name"], "user": account}}],
        "current-context": account,
    }
    path = cluster.cp.workdir / f"sa-{namespace}-{account}.kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    path.chmod(0o600)
    return path


def service_account_client(cluster: Cluster, namespace: str, account: str) -> client.ApiClient:
    path = service_account_kubeconfig(cluster, namespace, account)
    return config.new_client_from_config(config_file=str(path), context=account)


def can_i(cluster: Cluster, subject: str, *args: str) -> bool:
    result = cluster.kubectl("auth", "can-i", *args, f"--as={subject}", check=False)
    return result.stdout.strip() == "yes"


def test_worker_and_portal_accounts_are_denied_everything_else(cluster: Cluster, rbac_release: tuple[str, str]) -> None:
    release, namespace = rbac_release
    worker = f"system:serviceaccount:{namespace}:{release}-store-platform-worker"
    portal = f"system:serviceaccount:{namespace}:{release}-store-platform-portal"
    allowed = [
        (worker, "create", "namespaces"),
        (worker, "delete", "namespaces"),
        (worker, "list", "nodes"),
        (worker, "patch", "deployments.apps", "-n", "any-store"),
        (worker, "delete", "jobs.batch", "-n", "any-store"),
        (worker, "patch", "cronjobs.batch", "-n", "any-store"),
        (worker, "list", "pods", "-n", "any-store"),
        (worker, "watch", "namespaces"),
        (worker, "watch", "deployments.apps"),
        (worker, "watch", "events"),
        (worker, "create", "secrets", "-n", "any-store"),
        (worker, "get", f"secrets/{SECRET_NAME}", "-n", "any-store"),
        (portal, "get", f"secrets/{SECRET_NAME}", "-n", "any-store"),
        (portal, "list", "pods", "-n", "any-store"),
        (portal, "list", "events", "-n", "any-store"),
        (portal, "get", "resourcequotas/store-quota", "-n", "any-store"),
        (portal, "get", "pods", "--subresource=log", "-n", "any-store"),
        (portal, "list", "nodes"),
    ]
    denied = [
        (worker, "list", "secrets", "-n", "any-store"),
        (worker, "get", "secrets/some-other-secret", "-n", "any-store"),
        (worker, "patch", f"secrets/{SECRET_NAME}", "-n", "any-store"),
        (worker, "create", "pods", "-n", "any-store"),
        (worker, "delete", "deployments.apps", "-n", "any-store"),
        (worker, "delete", "cronjobs.batch", "-n", "any-store"),
        (worker, "watch", "nodes"),
        (worker, "watch", "secrets", "-n", "any-store"),
        (worker, "get", "nodes"),
        (worker, "create", "clusterroles.rbac.authorization.k8s.io"),
        (worker, "create", "rolebindings.rbac.authorization.k8s.io", "-n", "any-store"),
        (worker, "create", "serviceaccounts", "-n", "any-store"),
        (worker, "impersonate", "users"),
        (worker, "get", "configmaps", "-n", namespace),
        (portal, "list", "secrets", "-n", "any-store"),
        (portal, "get", "secrets/some-other-secret", "-n", "any-store"),
        (portal, "create", "namespaces"),
        (portal, "list", "namespaces"),
        (portal, "get", "pods", "-n", "any-store"),
        (portal, "delete", "pods", "-n", "any-store"),
        (portal, "get", "resourcequotas/other", "-n", "any-store"),
        (portal, "create", "pods", "--subresource=exec", "-n", "any-store"),
        (portal, "get", "nodes"),
    ]
    wrong = [a for a in allowed if not can_i(cluster, *a)] + [d for d in denied if can_i(cluster, *d)]
    assert not wrong, f"RBAC differs from the contract: {wrong}"


def test_reconciler_provisions_and_deletes_a_store_as_the_worker_account(
    cluster: Cluster, rbac_release: tuple[str, str], tmp_path: Path
) -> None:
    release, namespace = rbac_release
    worker_api = service_account_client(cluster, namespace, f"{release}-store-platform-worker")
    portal_api = service_account_client(cluster, namespace, f"{release}-store-platform-portal")
    settings = make_settings(
        tmp_path,
        reconcile_interval_seconds=0.05,
        provisioning_timeout_seconds=240,
        kube_context="worker-sa",
    )
    db = make_engine(settings.database_url)
    migrate(db)
    users = UserService(db, settings)
    users.ensure_first_admin()
    admin = users.get_actor("admin")
    service = StoreService(db, settings)
    store = service.create_store(admin, f"rbac-{unique_name('s')[-6:]}")
    reconciler = Reconciler(db, settings, lambda: KubeCluster(worker_api, context="worker-sa"), identity="rbac-test")
    watching = threading.Event()
    reconciler.watch_cluster(watching)  # readiness from the caches, as the worker's loop reads it

    def status() -> str:
        return service.get_store(admin, store.id).status

    def run_until(done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reconciler.run_once()
            if done():
                return
            time.sleep(0.2)
        current = service.get_store(admin, store.id)
        raise AssertionError(f"{what}: still {current.status} after {timeout}s: {current.message}")

    try:
        run_until(lambda: status() in (StoreStatus.READY, StoreStatus.FAILED), 240, "provisioning")
        current = service.get_store(admin, store.id)
        assert current.status == StoreStatus.READY, f"{current.message} {current.conditions}"
        cached = reconciler.cluster
        assert isinstance(cached, CachedCluster)
        unsynced = [kind for kind, informer in cached.informers.items() if not informer.synced]
        assert not unsynced, f"the worker account cannot list and watch {unsynced}"
        cluster_status = service.cluster_status()
        assert cluster_status is not None and cluster_status.reachable
        assert cluster_status.simulated, "listing nodes (kwok detection) must be allowed"

        # The portal's one cluster call: reveal the store's admin password.
        password = KubeCluster(portal_api, context="portal-sa").read_secret_value(
            current.namespace, SECRET_NAME, "wordpress-admin-password"
        )
        assert len(password) >= 16
        # The store page's live details, as the portal account.
        insight = KubeCluster(portal_api, context="portal-sa").insight(current.namespace)
        assert {p["pod"].split("-")[0] for p in insight.pods} >= {"mariadb", "wordpress"}
        assert any(q["resource"] == "limits.cpu" for q in insight.quota)
        with pytest.raises(ApiException) as denied:
            client.CoreV1Api(portal_api).list_namespaced_secret(current.namespace)
        assert denied.value.status == 403

        service.delete_store(admin, store.id)
        run_until(lambda: status() == StoreStatus.DELETED, 180, "deletion")
        with pytest.raises(ApiException) as gone:
            client.CoreV1Api(cluster.api).read_namespace(current.namespace)
        assert gone.value.status == 404
    finally:
        watching.set()
        reconciler._pool.shutdown(wait=False)
        db.dispose()
        worker_api.close()
        portal_api.close()
        leftover = store.namespace
        with contextlib.suppress(ApiException):
            delete_namespace(cluster.api, leftover, wait=False)


def test_opt_in_uninstall_hook_deletes_store_namespaces_as_the_worker_account(
    cluster: Cluster, rbac_release: tuple[str, str], tmp_path: Path
) -> None:
    """The pre-delete hook's script, run with the worker's token (kwok cannot run it).

    The selector gets one extra label so that only this test's namespaces can match, even
    if other tests of the session hold store namespaces of their own.
    """
    release, namespace = rbac_release
    docs = render(cluster.tools, "values.yaml", "--set", "uninstall.deleteStores=true", namespace=namespace)
    script = find(docs, "Job", "-delete-stores")["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    run_label = unique_name("run")
    contract = f'selector = "{LABEL_MANAGED_BY}={MANAGED_BY}"'
    assert contract in script
    script = script.replace(contract, f'selector = "{LABEL_MANAGED_BY}={MANAGED_BY},hook-test={run_label}"')

    stores = [unique_name("hook-store") for _ in range(2)]
    bystander = unique_name("hook-other")
    for name in stores:
        create_namespace(
            cluster.api,
            name,
            labels={LABEL_MANAGED_BY: MANAGED_BY, "hook-test": run_label},
            wait_for_service_account=False,
        )
    create_namespace(cluster.api, bystander, labels={"hook-test": run_label}, wait_for_service_account=False)
    kubeconfig = service_account_kubeconfig(cluster, namespace, f"{release}-store-platform-worker")
    try:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "KUBECONFIG": str(kubeconfig),
        }
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "every store namespace is gone" in proc.stdout
        core = client.CoreV1Api(cluster.api)
        for name in stores:
            with pytest.raises(ApiException) as gone:
                core.read_namespace(name)
            assert gone.value.status == 404
        assert core.read_namespace(bystander).status.phase == "Active"
    finally:
        for name in [*stores, bystander]:
            with contextlib.suppress(ApiException):
                delete_namespace(cluster.api, name, wait=False)
