"""Medusa engine manifests as data (engines/medusa*.py): pure, no cluster.

What the pods are: registry and checks, labels and Services, Pod Security, resources
against the rendered quota (added up), probes. test_medusa_access.py covers what reaches
them and what they hold: environment, secrets, flows, ingress, the shopper path.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from provisioning.engines import ENGINES, PLANNED_ENGINES, get_engine
from provisioning.engines import medusa_backing as mb
from provisioning.engines.base import LABEL_COMPONENT, LABEL_STORE_ID, Manifest, StoreSpec
from provisioning.engines.medusa import (
    PORT,
    MedusaEngine,
    sign_in_email,
)
from provisioning.engines.woocommerce import WooCommerceEngine
from provisioning.models import Store
from provisioning.reconciler import spec_for
from provisioning.settings import Settings
from tests.conftest import make_settings
from tests.provisioning.manifests import (
    COMPONENTS,
    LONG_RUNNING,
    UIDS,
    WORKLOAD_KINDS,
    by_kind,
    containers,
    engine_fixtures,
    env_of,
    is_subset,
    main_container,
    make_spec,
    one,
    pod,
    template_labels,
    workloads,
)
from tests.provisioning.test_tenancy import quantity

settings, spec, engine, manifests = engine_fixtures(MedusaEngine, "medusa")


# -- registry and identity ------------------------------------------------------------------


def test_medusa_is_registered_and_no_longer_planned(engine: MedusaEngine) -> None:
    assert isinstance(get_engine("medusa"), MedusaEngine)
    assert "medusa" in ENGINES and "medusa" not in PLANNED_ENGINES
    assert engine.available is True
    assert engine.title == "MedusaJS"
    assert engine.admin_path() == "/app"


def test_checks_refer_to_objects_that_are_applied(
    engine: MedusaEngine, spec: StoreSpec, manifests: list[Manifest]
) -> None:
    checks = engine.checks(spec)
    assert [c.condition for c in checks] == [
        "NamespaceReady",
        "DatabaseReady",
        "CacheReady",
        "AppReady",
        "WorkerReady",
        "StoreInstalled",
        "IngressReady",
    ]
    for check in checks:
        one(manifests, check.kind, check.name)
    assert {(c.kind, c.name) for c in checks if c.kind in WORKLOAD_KINDS} == {
        (w["kind"], w["metadata"]["name"]) for w in workloads(manifests)
    }, "every workload is waited for"


def test_objects_in_apply_order(manifests: list[Manifest]) -> None:
    kinds = [m["kind"] for m in manifests]
    assert kinds[:3] == ["Namespace", "LimitRange", "ResourceQuota"]
    first_workload = min(i for i, kind in enumerate(kinds) if kind in WORKLOAD_KINDS)
    assert max(i for i, kind in enumerate(kinds) if kind == "NetworkPolicy") < first_workload
    keys = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert len(keys) == len(set(keys))


# -- labels, selectors, services ------------------------------------------------------------


def test_pod_labels_carry_component_and_store(manifests: list[Manifest], spec: StoreSpec) -> None:
    assert {w["metadata"]["name"]: template_labels(w)[LABEL_COMPONENT] for w in workloads(manifests)} == COMPONENTS
    for w in workloads(manifests):
        assert template_labels(w)[LABEL_STORE_ID] == spec.id
        selector = w["spec"].get("selector", {}).get("matchLabels")
        if selector is not None:
            assert selector[LABEL_STORE_ID] == spec.id
            assert is_subset(selector, template_labels(w)), w["metadata"]["name"]


def test_each_service_selects_exactly_one_workloads_pods(manifests: list[Manifest]) -> None:
    expected = {
        "postgres": ("StatefulSet", "postgres"),
        "redis": ("Deployment", "redis"),
        "medusa": ("Deployment", "medusa-server"),
    }
    services = by_kind(manifests, "Service")
    assert sorted(s["metadata"]["name"] for s in services) == sorted(expected)
    for service in services:
        selector = service["spec"]["selector"]
        matched = [
            (w["kind"], w["metadata"]["name"]) for w in workloads(manifests) if is_subset(selector, template_labels(w))
        ]
        assert matched == [expected[service["metadata"]["name"]]], service["metadata"]["name"]
        ports = {p["containerPort"] for c in pod(manifests, matched[0][1])["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]


def test_postgres_service_is_the_statefulsets_headless_service(manifests: list[Manifest]) -> None:
    statefulset = one(manifests, "StatefulSet")
    service = one(manifests, "Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert [p["port"] for p in service["spec"]["ports"]] == [mb.PG_PORT]
    assert one(manifests, "Service", "medusa")["spec"]["type"] == "ClusterIP"


# -- pod security ---------------------------------------------------------------------------


def test_every_pod_meets_pod_security_restricted(manifests: list[Manifest]) -> None:
    for w in workloads(manifests):
        name = w["metadata"]["name"]
        spec = w["spec"]["template"]["spec"]
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] == UIDS[name], name
        assert context["runAsGroup"] == UIDS[name], name
        assert context["fsGroup"] == UIDS[name], name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert "sysctls" not in context, name
        assert spec["automountServiceAccountToken"] is False, name
        for host_flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host_flag), name
        for volume in spec.get("volumes", []):
            assert set(volume) <= {"name", "persistentVolumeClaim", "emptyDir"}, name


def test_every_container_is_locked_down_and_read_only(manifests: list[Manifest]) -> None:
    seen = 0
    for w, container in containers(manifests):
        where = f"{w['metadata']['name']}/{container['name']}"
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["capabilities"] == {"drop": ["ALL"]}, where
        assert context["runAsNonRoot"] is True, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context.get("runAsUser", 1) != 0, where
        assert not context.get("privileged"), where
        seen += 1
    assert seen == 7, "five pods, two of them with the wait-for-setup init container"


def test_the_gate_runs_as_the_postgres_images_own_user(manifests: list[Manifest]) -> None:
    for name in ("medusa-server", "medusa-worker"):
        (gate,) = pod(manifests, name)["initContainers"]
        assert gate["securityContext"]["runAsUser"] == mb.POSTGRES_UID
        assert gate["securityContext"]["runAsGroup"] == mb.POSTGRES_UID


def test_read_only_roots_get_the_writable_paths_they_need(manifests: list[Manifest]) -> None:
    def mounts(name: str) -> dict[str, str]:
        spec = pod(manifests, name)
        (container,) = spec["containers"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        kinds = {}
        for mount in container["volumeMounts"]:
            volume = volumes.get(mount["name"])
            kinds[mount["mountPath"]] = "claim" if volume is None else next(k for k in volume if k != "name")
        return kinds

    for name in ("medusa-server", "medusa-worker", "store-setup"):
        got = mounts(name)
        assert got["/tmp"] == "emptyDir", name
        assert "/app/static" in got, name
        env = env_of(main_container(manifests, name))
        assert env["HOME"]["value"] == "/tmp" and env["XDG_CONFIG_HOME"]["value"] == "/tmp", name
    assert mounts("medusa-server")["/app/static"] == "persistentVolumeClaim"
    assert pod(manifests, "medusa-server")["volumes"][1]["persistentVolumeClaim"] == {"claimName": "medusa-static"}
    one(manifests, "PersistentVolumeClaim", "medusa-static")
    assert mounts("postgres") == {
        mb.PGDATA_MOUNT: "claim",
        "/var/run/postgresql": "emptyDir",
        "/tmp": "emptyDir",
    }
    assert mounts("redis") == {"/data": "emptyDir"}


# -- resources and quota --------------------------------------------------------------------


def test_every_container_has_cpu_and_memory_requests_and_limits(manifests: list[Manifest]) -> None:
    for w, container in containers(manifests):
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                value = container["resources"][kind][resource]
                assert quantity(value) > 0, f"{w['metadata']['name']}/{container['name']} {kind}.{resource}"
        for resource in ("cpu", "memory"):
            assert quantity(container["resources"]["requests"][resource]) <= quantity(
                container["resources"]["limits"][resource]
            )


def pod_resources(spec: dict[str, Any]) -> dict[str, Decimal]:
    """What quota charges a pod: per resource, max(largest init container, sum of containers)."""
    charged = {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            key = f"{kind}.{resource}"
            total = sum((quantity(c["resources"][kind][resource]) for c in spec["containers"]), Decimal(0))
            init = [quantity(c["resources"][kind][resource]) for c in spec.get("initContainers", [])]
            charged[key] = max([total, *init])
    return charged


def test_all_five_pods_at_once_fit_in_the_rendered_quota(manifests: list[Manifest], settings: Settings) -> None:
    """Every pod, the setup Job's included, runs at the same time while a store comes up."""
    hard = one(manifests, "ResourceQuota")["spec"]["hard"]
    totals: dict[str, Decimal] = {}
    pods = 0
    for w in workloads(manifests):
        if w["kind"] == "Job":
            replicas = int(w["spec"].get("parallelism", 1))
        else:
            replicas = int(w["spec"].get("replicas", 1))
            if w["kind"] == "Deployment":
                # A rolling update would run a second pod beside the first.
                assert w["spec"]["strategy"] == {"type": "Recreate"}, w["metadata"]["name"]
        pods += replicas
        for key, value in pod_resources(w["spec"]["template"]["spec"]).items():
            totals[key] = totals.get(key, Decimal(0)) + replicas * value
    assert pods == 5
    assert set(totals) == {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}
    for key, total in totals.items():
        assert total <= quantity(hard[key]), f"{key}: the pods need {total}, the quota allows {hard[key]}"
    assert pods <= int(hard["pods"])
    # The shared (WooCommerce-sized) quota would not hold them: hence Medusa's own settings.
    assert totals["limits.memory"] > quantity(settings.quota_limits_memory)


def test_quota_comes_from_the_medusa_settings(engine: MedusaEngine, spec: StoreSpec, tmp_path: Path) -> None:
    custom = make_settings(
        tmp_path,
        medusa_quota_requests_cpu="1500m",
        medusa_quota_requests_memory="3Gi",
        medusa_quota_limits_cpu="4",
        medusa_quota_limits_memory="5Gi",
        quota_storage="20Gi",
    )
    hard = one(engine.workloads(spec, custom), "ResourceQuota")["spec"]["hard"]
    assert hard["requests.cpu"] == "1500m"
    assert hard["requests.memory"] == "3Gi"
    assert hard["limits.cpu"] == "4"
    assert hard["limits.memory"] == "5Gi"
    assert hard["requests.storage"] == "20Gi"
    woo = one(WooCommerceEngine().workloads(spec, custom), "ResourceQuota")["spec"]["hard"]
    assert woo["limits.memory"] == custom.quota_limits_memory, "WooCommerce keeps the shared quota"


def test_each_container_fits_the_limit_range(manifests: list[Manifest]) -> None:
    (rule,) = one(manifests, "LimitRange")["spec"]["limits"]
    for w, container in containers(manifests):
        for resource in ("cpu", "memory"):
            limit = quantity(container["resources"]["limits"][resource])
            assert limit <= quantity(rule["max"][resource]), f"{w['metadata']['name']}/{container['name']}"


def test_volumes_fit_in_the_storage_quota(manifests: list[Manifest], settings: Settings) -> None:
    hard = one(manifests, "ResourceQuota")["spec"]["hard"]
    claims = [m["spec"] for m in by_kind(manifests, "PersistentVolumeClaim")]
    (template,) = one(manifests, "StatefulSet")["spec"]["volumeClaimTemplates"]
    claims.append(template["spec"])
    assert len(claims) == 2
    assert len(claims) <= int(hard["persistentvolumeclaims"])
    total = sum((quantity(c["resources"]["requests"]["storage"]) for c in claims), Decimal(0))
    assert total <= quantity(hard["requests.storage"])
    for claim in claims:
        assert claim["accessModes"] == ["ReadWriteOnce"]
        assert claim["resources"]["requests"]["storage"] == settings.volume_size


def test_node_heap_is_capped_below_each_memory_limit(manifests: list[Manifest]) -> None:
    for name in ("medusa-server", "medusa-worker", "store-setup"):
        container = main_container(manifests, name)
        options = env_of(container)["NODE_OPTIONS"]["value"]
        heap = int(re.fullmatch(r"--max-old-space-size=(\d+)", options).group(1))  # type: ignore[union-attr]
        limit_mib = quantity(container["resources"]["limits"]["memory"]) / 2**20
        assert limit_mib / 2 <= heap < limit_mib, name


# -- probes ---------------------------------------------------------------------------------


def _budget(probe: dict[str, Any]) -> int:
    return probe["periodSeconds"] * probe["failureThreshold"] + probe.get("initialDelaySeconds", 0)


def test_long_running_containers_have_all_three_probes(manifests: list[Manifest]) -> None:
    checked = []
    for w, container in containers(manifests):
        if w["kind"] not in LONG_RUNNING or container["name"] == "wait-for-setup":
            continue
        ports = {p["containerPort"] for p in container.get("ports", [])}
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container[probe_name]
            handler = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("exec")
            assert handler, f"{w['metadata']['name']} {probe_name}"
            if "port" in handler:
                assert handler["port"] in ports, f"{w['metadata']['name']} {probe_name} probes an unexposed port"
        # Liveness never kills a process before its startup budget is spent.
        assert _budget(container["startupProbe"]) >= 60, w["metadata"]["name"]
        checked.append(w["metadata"]["name"])
    assert sorted(checked) == ["medusa-server", "medusa-worker", "postgres", "redis"]


def test_medusa_probes_use_health_on_its_port(manifests: list[Manifest]) -> None:
    for name in ("medusa-server", "medusa-worker"):
        container = main_container(manifests, name)
        for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe_name]["httpGet"] == {"path": "/health", "port": PORT}, (name, probe_name)
        assert _budget(container["startupProbe"]) >= 120, "Medusa loads its modules for about 15 s on a fast disk"


def test_postgres_readiness_is_a_tcp_pg_isready_with_a_long_startup_budget(manifests: list[Manifest]) -> None:
    container = main_container(manifests, "postgres")
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe_name]["exec"]["command"]
        assert command[0] == "pg_isready"
        # Over TCP: the entrypoint's first-start server listens on the socket only.
        assert command[command.index("-h") + 1] == "127.0.0.1"
        assert command[command.index("-U") + 1] == mb.DB_USER
    assert _budget(container["startupProbe"]) >= 300, "an interrupted initdb leaves a broken data directory"


# -- purity ---------------------------------------------------------------------------------


def test_manifests_are_deterministic(engine: MedusaEngine, spec: StoreSpec, settings: Settings) -> None:
    first = engine.workloads(spec, settings)
    snapshot = copy.deepcopy(first)
    first[0]["metadata"]["labels"]["tampered"] = "yes"
    assert engine.workloads(spec, settings) == snapshot


def test_two_stores_get_disjoint_selectors(engine: MedusaEngine, settings: Settings) -> None:
    a = engine.workloads(make_spec("shop-a"), settings)
    b = engine.workloads(make_spec("shop-b"), settings)
    for w in workloads(a):
        selector = w["spec"].get("selector", {}).get("matchLabels")
        if selector:
            assert not any(is_subset(selector, template_labels(other)) for other in workloads(b))


def test_admin_email_matches_the_reconcilers_spec() -> None:
    store = Store(
        name="shop", active_name="shop", engine="medusa", owner_id="x", namespace="ns", admin_user="shop-admin"
    )
    assert sign_in_email(name=store.name, admin_user=store.admin_user) == spec_for(store, "alice").admin_email
