"""WooCommerce engine manifests as data (engines/woocommerce.py): pure, no cluster."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provisioning.catalog.woocommerce import WOOCOMMERCE_VERSION
from provisioning.credentials import WORDPRESS_SALT_KEYS
from provisioning.engines import get_engine
from provisioning.engines.base import LABEL_COMPONENT, LABEL_STORE_ID, SECRET_NAME, Manifest, StoreSpec
from provisioning.engines.woocommerce import (
    DB_PORT,
    KEY_ADMIN_PASSWORD,
    KEY_ADMIN_USER,
    KEY_DB_PASSWORD,
    KEY_DB_ROOT_PASSWORD,
    WEB_PORT,
    WooCommerceEngine,
)
from provisioning.settings import Settings
from tests.conftest import make_settings
from tests.provisioning.manifests import (
    LONG_RUNNING,
    by_kind,
    containers,
    engine_fixtures,
    is_subset,
    make_spec,
    one,
    template_labels,
    workloads,
)

# Sysctls Pod Security "baseline"/"restricted" allow.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


settings, spec, engine, manifests = engine_fixtures(WooCommerceEngine, "woocommerce")


def env_value(container: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [e for e in container.get("env", []) if e["name"] == name]
    assert len(matches) == 1, f"{container['name']} has {len(matches)} env vars named {name}"
    return matches[0]


def setup_container(manifests: Sequence[Manifest]) -> dict[str, Any]:
    (container,) = one(manifests, "Job")["spec"]["template"]["spec"]["containers"]
    return container


def setup_script(manifests: Sequence[Manifest]) -> str:
    command = setup_container(manifests)["command"]
    assert command[:2] == ["bash", "-c"]  # bash ships in wordpress:cli (for `wp shell`)
    return command[2]


# -- registry and identity ------------------------------------------------------------------


def test_engine_registry_and_admin_path(engine: WooCommerceEngine) -> None:
    assert get_engine("woocommerce").name == "woocommerce"
    assert engine.available is True
    assert engine.admin_path() == "/wp-admin/"


def test_checks_refer_to_objects_that_are_applied(
    engine: WooCommerceEngine, spec: StoreSpec, manifests: list[Manifest]
) -> None:
    checks = engine.checks(spec)
    assert [c.condition for c in checks] == [
        "NamespaceReady",
        "DatabaseReady",
        "AppReady",
        "StoreInstalled",
        "IngressReady",
    ]
    for check in checks:
        one(manifests, check.kind, check.name)


# -- labels and selectors -------------------------------------------------------------------


def test_workload_selectors_are_subsets_of_their_pod_labels(manifests: list[Manifest]) -> None:
    for workload in by_kind(manifests, "Deployment") + by_kind(manifests, "StatefulSet"):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector, workload["metadata"]["name"]
        assert is_subset(selector, template_labels(workload)), workload["metadata"]["name"]


def test_workload_selectors_are_scoped_to_the_store(manifests: list[Manifest], spec: StoreSpec) -> None:
    for workload in by_kind(manifests, "Deployment") + by_kind(manifests, "StatefulSet"):
        assert workload["spec"]["selector"]["matchLabels"][LABEL_STORE_ID] == spec.id


def test_each_service_selects_exactly_one_workloads_pods(manifests: list[Manifest]) -> None:
    expected = {"wordpress": ("Deployment", "wordpress"), "mariadb": ("StatefulSet", "mariadb")}
    services = by_kind(manifests, "Service")
    assert sorted(s["metadata"]["name"] for s in services) == sorted(expected)
    for service in services:
        selector = service["spec"]["selector"]
        matched = [
            (w["kind"], w["metadata"]["name"]) for w in workloads(manifests) if is_subset(selector, template_labels(w))
        ]
        assert matched == [expected[service["metadata"]["name"]]], service["metadata"]["name"]


def test_service_ports_target_container_ports(manifests: list[Manifest]) -> None:
    for service in by_kind(manifests, "Service"):
        (workload,) = [w for w in workloads(manifests) if is_subset(service["spec"]["selector"], template_labels(w))]
        ports = {
            p["containerPort"] for c in workload["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]


def test_web_service_is_cluster_ip_on_port_80(manifests: list[Manifest]) -> None:
    service = one(manifests, "Service", "wordpress")
    assert service["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in service["spec"]["ports"]] == [WEB_PORT]


def test_statefulset_service_name_is_the_headless_service(manifests: list[Manifest]) -> None:
    statefulset = one(manifests, "StatefulSet")
    service = one(manifests, "Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert is_subset(service["spec"]["selector"], template_labels(statefulset))
    assert [p["port"] for p in service["spec"]["ports"]] == [DB_PORT]


def test_wordpress_reaches_the_database_through_its_service(manifests: list[Manifest]) -> None:
    db_service = one(manifests, "Service", "mariadb")
    for kind in ("Deployment", "Job"):
        (container,) = one(manifests, kind)["spec"]["template"]["spec"]["containers"]
        host = env_value(container, "WORDPRESS_DB_HOST")["value"]
        assert host == f"{db_service['metadata']['name']}:{DB_PORT}"


def test_pod_labels_carry_component_and_store(manifests: list[Manifest], spec: StoreSpec) -> None:
    components = {w["kind"]: template_labels(w)[LABEL_COMPONENT] for w in workloads(manifests)}
    assert components == {"StatefulSet": "database", "Deployment": "web", "Job": "setup"}
    for workload in workloads(manifests):
        assert template_labels(workload)[LABEL_STORE_ID] == spec.id


# -- containers and pod security ------------------------------------------------------------


def test_every_container_has_cpu_and_memory_requests_and_limits(manifests: list[Manifest]) -> None:
    seen = []
    for workload, container in containers(manifests):
        seen.append(workload["kind"])
        resources = container["resources"]
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resources[kind][resource], f"{container['name']} {kind}.{resource}"
    assert sorted(seen) == ["Deployment", "Job", "StatefulSet"]


def test_long_running_containers_have_readiness_and_liveness_probes(manifests: list[Manifest]) -> None:
    checked = 0
    for workload, container in containers(manifests):
        if workload["kind"] not in LONG_RUNNING:
            continue
        checked += 1
        ports = {p["containerPort"] for p in container["ports"]}
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = container[probe_name]
            handler = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("exec")
            assert handler, f"{container['name']} {probe_name}"
            if "port" in handler:
                assert handler["port"] in ports, f"{container['name']} {probe_name} probes an unexposed port"
    assert checked == 2


def test_every_container_is_locked_down(manifests: list[Manifest]) -> None:
    for _, container in containers(manifests):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert not context["capabilities"].get("add"), container["name"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert not context.get("privileged"), container["name"]


def test_every_pod_is_non_root_with_runtime_default_seccomp(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for host_flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host_flag), name
        for volume in pod.get("volumes", []):
            assert set(volume) <= {"name", "persistentVolumeClaim", "emptyDir", "secret", "configMap"}, name
        for sysctl in pod["securityContext"].get("sysctls", []):
            assert sysctl["name"] in SAFE_SYSCTLS, name


def test_web_binds_port_80_without_root_or_capabilities(manifests: list[Manifest]) -> None:
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"} in pod["securityContext"]["sysctls"]
    assert pod["containers"][0]["ports"] == [{"name": "http", "containerPort": WEB_PORT}]


def test_images_come_from_settings_with_pinned_tags(engine: WooCommerceEngine, spec: StoreSpec, tmp_path: Path) -> None:
    custom = make_settings(
        tmp_path,
        wordpress_image="registry.example/wp:6.8.3-a",
        wpcli_image="registry.example/wp:cli-2.12.0-b",
        mariadb_image="registry.example/mariadb:11.4.8-c",
    )
    images = {w["kind"]: c["image"] for w, c in containers(engine.workloads(spec, custom))}
    assert images == {
        "Deployment": "registry.example/wp:6.8.3-a",
        "Job": "registry.example/wp:cli-2.12.0-b",
        "StatefulSet": "registry.example/mariadb:11.4.8-c",
    }


def test_default_images_are_pinned(manifests: list[Manifest], settings: Settings) -> None:
    images = [c["image"] for _, c in containers(manifests)]
    assert sorted(images) == sorted([settings.wordpress_image, settings.wpcli_image, settings.mariadb_image])
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag, f"{image} has no tag"
        assert tag != "latest", image
        assert ":latest" not in image


# -- secret ---------------------------------------------------------------------------------


def _secret_refs(manifests: Sequence[Manifest]) -> list[dict[str, str]]:
    return [
        env["valueFrom"]["secretKeyRef"]
        for _, container in containers(manifests)
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    ]


def test_every_referenced_secret_key_exists(
    engine: WooCommerceEngine, spec: StoreSpec, manifests: list[Manifest]
) -> None:
    secret = engine.secret(spec, engine.generate_secrets(spec))
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == SECRET_NAME
    assert secret["metadata"]["namespace"] == spec.namespace
    data = secret["stringData"]
    refs = _secret_refs(manifests)
    assert len(refs) > 10
    for ref in refs:
        assert ref["name"] == SECRET_NAME
        assert ref["key"] in data, ref["key"]
        assert data[ref["key"]]


def test_generated_passwords_are_long_and_fresh(engine: WooCommerceEngine, spec: StoreSpec) -> None:
    first, second = engine.generate_secrets(spec), engine.generate_secrets(spec)
    assert set(first) == set(second)
    for key in (KEY_DB_ROOT_PASSWORD, KEY_DB_PASSWORD, KEY_ADMIN_PASSWORD):
        assert len(first[key]) >= 20, key
        assert first[key] != second[key], key
        assert first[key].isalnum(), key
    assert len({first[KEY_DB_ROOT_PASSWORD], first[KEY_DB_PASSWORD], first[KEY_ADMIN_PASSWORD]}) == 3
    assert first[KEY_ADMIN_USER] == spec.admin_user


def test_all_eight_wordpress_salts_are_generated_and_wired(
    engine: WooCommerceEngine, spec: StoreSpec, manifests: list[Manifest]
) -> None:
    assert len(WORDPRESS_SALT_KEYS) == 8
    values = engine.generate_secrets(spec)
    (web,) = one(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    salts = []
    for key in WORDPRESS_SALT_KEYS:
        ref = env_value(web, f"WORDPRESS_{key}")["valueFrom"]["secretKeyRef"]
        assert len(values[ref["key"]]) >= 32, key
        salts.append(values[ref["key"]])
    assert len(set(salts)) == 8


def test_no_generated_secret_appears_in_the_workloads(
    engine: WooCommerceEngine, spec: StoreSpec, settings: Settings
) -> None:
    values = engine.generate_secrets(spec)
    text = json.dumps(engine.workloads(spec, settings))
    for key, value in values.items():
        if key != KEY_ADMIN_USER:
            assert value not in text, key


# -- storage --------------------------------------------------------------------------------


def test_volumes_use_the_default_storage_class_by_default(manifests: list[Manifest], settings: Settings) -> None:
    (template,) = one(manifests, "StatefulSet")["spec"]["volumeClaimTemplates"]
    pvc = one(manifests, "PersistentVolumeClaim", "wordpress-data")
    for claim in (template["spec"], pvc["spec"]):
        assert claim["resources"]["requests"]["storage"] == settings.volume_size
        assert claim["accessModes"] == ["ReadWriteOnce"]
        assert "storageClassName" not in claim


def test_storage_class_and_size_follow_settings(engine: WooCommerceEngine, spec: StoreSpec, tmp_path: Path) -> None:
    custom = make_settings(tmp_path, storage_class="local-path", volume_size="5Gi")
    manifests = engine.workloads(spec, custom)
    (template,) = one(manifests, "StatefulSet")["spec"]["volumeClaimTemplates"]
    pvc = one(manifests, "PersistentVolumeClaim", "wordpress-data")
    for claim in (template["spec"], pvc["spec"]):
        assert claim["storageClassName"] == "local-path"
        assert claim["resources"]["requests"]["storage"] == "5Gi"


def test_volumes_are_mounted_where_the_images_keep_their_data(manifests: list[Manifest]) -> None:
    statefulset = one(manifests, "StatefulSet")
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    (db,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert {"name": template["metadata"]["name"], "mountPath": "/var/lib/mysql"} in db["volumeMounts"]
    html = {"name": "html", "persistentVolumeClaim": {"claimName": "wordpress-data"}}
    web = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert web["volumes"] == [html, {"name": "apache-mpm", "configMap": {"name": "apache-mpm"}}]
    cron = one(manifests, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for pod in (web, one(manifests, "Job")["spec"]["template"]["spec"], cron):
        assert html in pod["volumes"]
        assert {"name": "html", "mountPath": "/var/www/html"} in pod["containers"][0]["volumeMounts"]


# -- ingress --------------------------------------------------------------------------------


@pytest.mark.parametrize("ingress_class", ["nginx", "traefik"])
def test_ingress_host_class_and_backend(
    engine: WooCommerceEngine, spec: StoreSpec, tmp_path: Path, ingress_class: str
) -> None:
    settings = make_settings(tmp_path, ingress_class=ingress_class, domain="shops.example.com")
    ingress = one(engine.workloads(spec, settings), "Ingress")
    assert ingress["spec"]["ingressClassName"] == ingress_class
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "my-shop.shops.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/"
    assert path["pathType"] == "Prefix"
    assert path["backend"] == {"service": {"name": "wordpress", "port": {"number": WEB_PORT}}}
    assert "tls" not in ingress["spec"]
    annotations = ingress["metadata"].get("annotations", {})
    assert "cert-manager.io/cluster-issuer" not in annotations
    assert ("nginx.ingress.kubernetes.io/proxy-body-size" in annotations) == (ingress_class == "nginx")


def test_ingress_backend_is_a_service_of_the_store(manifests: list[Manifest]) -> None:
    backend = one(manifests, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = one(manifests, "Service", backend["name"])
    assert backend["port"]["number"] in [p["port"] for p in service["spec"]["ports"]]


def test_ingress_host_is_the_default_domain(manifests: list[Manifest]) -> None:
    assert one(manifests, "Ingress")["spec"]["rules"][0]["host"] == "my-shop.stores.localhost"


def test_ingress_tls_with_cert_manager(engine: WooCommerceEngine, spec: StoreSpec, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tls_enabled=True, cert_manager_issuer="letsencrypt")
    ingress = one(engine.workloads(spec, settings), "Ingress")
    host = spec.host(settings)
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "store-tls"}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_ingress_tls_without_issuer_has_no_cert_manager_annotation(
    engine: WooCommerceEngine, spec: StoreSpec, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, tls_enabled=True, ingress_class="traefik")
    ingress = one(engine.workloads(spec, settings), "Ingress")
    assert ingress["spec"]["tls"][0]["hosts"] == [spec.host(settings)]
    assert "cert-manager.io/cluster-issuer" not in ingress["metadata"].get("annotations", {})


# -- setup job ------------------------------------------------------------------------------


def test_job_restart_policy_and_deadline(manifests: list[Manifest], settings: Settings) -> None:
    job = one(manifests, "Job")
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")
    # Apart from the store's timeout, and longer: it must also cover image pulls.
    assert job["spec"]["activeDeadlineSeconds"] == settings.setup_deadline_seconds
    assert settings.setup_deadline_seconds > settings.provisioning_timeout_seconds
    assert job["spec"]["backoffLimit"] >= 1


def test_job_runs_next_to_the_web_pod(manifests: list[Manifest]) -> None:
    affinity = one(manifests, "Job")["spec"]["template"]["spec"]["affinity"]["podAffinity"]
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    selector = term["labelSelector"]["matchLabels"]
    matched = [w["kind"] for w in workloads(manifests) if is_subset(selector, template_labels(w))]
    assert matched == ["Deployment"]


def test_setup_script_is_idempotent_and_configures_the_shop(
    manifests: list[Manifest], spec: StoreSpec, settings: Settings
) -> None:
    """The script's text; tests/provisioning/test_wp_cli_scripts.py runs it against a fake wp."""
    script = setup_script(manifests)
    lines = script.splitlines()
    assert lines[0] == "set -Eeuo pipefail"
    assert "if ! wp core is-installed 2>/dev/null; then" in lines
    assert any(line.startswith('if [ "$installed" != ') for line in lines)
    assert 'wp plugin is-active woocommerce || run "Activating WooCommerce" wp plugin activate woocommerce' in lines
    assert 'run "Opening the store (coming soon off)" wp option update woocommerce_coming_soon no' in lines
    cod = f'run "Enabling Cash on Delivery" wp wc payment_gateway update cod --enabled=true --user={spec.admin_user}'
    assert cod in lines
    create = next(i for i, line in enumerate(lines) if "wp wc product create" in line)
    guard = lines[create - 1]
    assert guard.startswith('if [ "$(wp wc product list')
    assert "--format=count" in guard and '= "0" ]; then' in guard
    assert lines[create + 1] == "fi"
    assert f"--url={spec.url(settings)}" in script


def test_setup_script_takes_the_admin_password_from_the_environment(
    engine: WooCommerceEngine, spec: StoreSpec, manifests: list[Manifest]
) -> None:
    script = setup_script(manifests)
    assert '--admin_password="$WP_ADMIN_PASSWORD"' in script
    assert f"--admin_user={spec.admin_user}" in script
    ref = env_value(setup_container(manifests), "WP_ADMIN_PASSWORD")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": SECRET_NAME, "key": KEY_ADMIN_PASSWORD}
    assert engine.generate_secrets(spec)[KEY_ADMIN_PASSWORD] not in script


def test_setup_script_always_pins_the_woocommerce_version(
    engine: WooCommerceEngine, spec: StoreSpec, tmp_path: Path
) -> None:
    default = setup_script(engine.workloads(spec, make_settings(tmp_path)))
    assert f"wp plugin install woocommerce --version={WOOCOMMERCE_VERSION} --force" in default
    pinned = setup_script(engine.workloads(spec, make_settings(tmp_path, woocommerce_version="10.9.1")))
    assert "wp plugin install woocommerce --version=10.9.1 --force" in pinned


def test_wordpress_knows_its_public_url(manifests: list[Manifest], spec: StoreSpec, settings: Settings) -> None:
    cron = one(manifests, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for pod in (
        one(manifests, "Deployment")["spec"]["template"]["spec"],
        one(manifests, "Job")["spec"]["template"]["spec"],
        cron,
    ):
        (container,) = pod["containers"]
        extra = env_value(container, "WORDPRESS_CONFIG_EXTRA")["value"]
        assert f"define('WP_HOME', '{spec.url(settings)}');" in extra
        assert f"define('WP_SITEURL', '{spec.url(settings)}');" in extra


# -- purity ---------------------------------------------------------------------------------


def test_manifests_are_deterministic(engine: WooCommerceEngine, spec: StoreSpec, settings: Settings) -> None:
    first = engine.workloads(spec, settings)
    snapshot = copy.deepcopy(first)
    second = engine.workloads(spec, settings)
    assert first == second
    assert first is not second
    # Mutating one result does not leak into the next call.
    first[0]["metadata"]["labels"]["tampered"] = "yes"
    assert engine.workloads(spec, settings) == snapshot


def test_two_stores_get_disjoint_selectors(engine: WooCommerceEngine, settings: Settings) -> None:
    a = engine.workloads(make_spec("shop-a"), settings)
    b = engine.workloads(make_spec("shop-b"), settings)
    for workload in workloads(a):
        selector = workload["spec"].get("selector", {}).get("matchLabels")
        if selector:
            assert not any(is_subset(selector, template_labels(other)) for other in workloads(b))
    assert one(a, "Namespace")["metadata"]["name"] != one(b, "Namespace")["metadata"]["name"]
