"""Per-store tenancy: namespace, ordering, quota/limits and NetworkPolicies (engines/tenancy.py).

Pure manifest tests: the WooCommerce engine's full manifest list is built for one StoreSpec
and inspected as data. NetworkPolicies are checked with a small evaluator of the
Kubernetes NetworkPolicy semantics, so the assertions are about flows, not YAML shapes.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from provisioning.engines.base import (
    LABEL_COMPONENT,
    LABEL_ENGINE,
    LABEL_MANAGED_BY,
    LABEL_OWNER,
    LABEL_STORE_ID,
    LABEL_STORE_NAME,
    MANAGED_BY,
    Manifest,
    StoreSpec,
)
from provisioning.engines.tenancy import tenancy_manifests
from provisioning.engines.woocommerce import DB_PORT, WEB_PORT, WooCommerceEngine
from provisioning.names import namespace_for
from provisioning.settings import Settings
from tests.conftest import make_settings
from tests.provisioning.manifests import by_kind, one

WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")
POLICY_NAMES = {
    "default-deny",
    "allow-dns",
    "allow-ingress-controller-to-web",
    "allow-app-to-database",
    "allow-app-egress-to-database",
    "allow-setup-egress-internet",
}
NS_NAME_LABEL = "kubernetes.io/metadata.name"

Labels = Mapping[str, str]


@pytest.fixture
def spec() -> StoreSpec:
    store_id = uuid.uuid4().hex
    return StoreSpec(
        id=store_id,
        name="my-shop",
        namespace=namespace_for("my-shop", store_id),
        owner="alice",
        engine="woocommerce",
        admin_user="my-shop-admin",
        admin_email="my-shop-admin@my-shop.invalid",
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Manifests are pure: no database, so not the database-parametrized conftest fixture."""
    return make_settings(tmp_path)


@pytest.fixture
def manifests(spec: StoreSpec, settings: Settings) -> list[Manifest]:
    return WooCommerceEngine().workloads(spec, settings)


def pod_templates(manifests: Sequence[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for manifest in manifests:
        if manifest["kind"] in WORKLOAD_KINDS:
            yield manifest, manifest["spec"]["template"]


def pod_labels(manifests: Sequence[Manifest], kind: str) -> dict[str, str]:
    return dict(one(manifests, kind)["spec"]["template"]["metadata"]["labels"])


# -- quantities -----------------------------------------------------------------------------

_SUFFIXES = {
    "m": Decimal("0.001"),
    "k": Decimal(1000),
    "M": Decimal(1000) ** 2,
    "G": Decimal(1000) ** 3,
    "Ki": Decimal(1024),
    "Mi": Decimal(1024) ** 2,
    "Gi": Decimal(1024) ** 3,
    "Ti": Decimal(1024) ** 4,
}


def quantity(value: str | int) -> Decimal:
    """Parse a Kubernetes quantity ("500m", "1", "512Mi", "2Gi") into a Decimal of base units."""
    text = str(value)
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return Decimal(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("500m", Decimal("0.5")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("2Gi", Decimal(2 * 2**30)),
        ("1536Mi", Decimal(1536 * 2**20)),
        (10, Decimal(10)),
    ],
)
def test_quantity_parser(raw: str, expected: Decimal) -> None:
    assert quantity(raw) == expected


# -- namespace, labels, order ---------------------------------------------------------------


def test_namespace_labels_and_pod_security(spec: StoreSpec, manifests: list[Manifest]) -> None:
    namespace = one(manifests, "Namespace")
    meta = namespace["metadata"]
    assert meta["name"] == spec.namespace
    assert "namespace" not in meta, "a Namespace is cluster-scoped"
    labels = meta["labels"]
    assert labels[LABEL_MANAGED_BY] == MANAGED_BY
    assert labels[LABEL_STORE_ID] == spec.id
    assert labels[LABEL_STORE_NAME] == spec.name
    assert labels[LABEL_OWNER] == spec.owner
    assert labels[LABEL_ENGINE] == spec.engine
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_every_other_object_is_in_the_store_namespace_with_platform_labels(
    spec: StoreSpec, manifests: list[Manifest]
) -> None:
    others = [m for m in manifests if m["kind"] != "Namespace"]
    assert len(others) == len(manifests) - 1
    for manifest in others:
        meta = manifest["metadata"]
        where = f"{manifest['kind']}/{meta['name']}"
        assert meta["namespace"] == spec.namespace, where
        assert meta["labels"][LABEL_MANAGED_BY] == MANAGED_BY, where
        assert meta["labels"][LABEL_STORE_ID] == spec.id, where


def test_object_names_are_unique_per_kind(manifests: list[Manifest]) -> None:
    keys = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert len(keys) == len(set(keys))


def test_order_namespace_then_limitrange_then_quota_then_workloads(manifests: list[Manifest]) -> None:
    kinds = [m["kind"] for m in manifests]
    assert kinds[0] == "Namespace"
    assert kinds.count("Namespace") == 1
    limit_range = kinds.index("LimitRange")
    quota = kinds.index("ResourceQuota")
    workloads = [i for i, kind in enumerate(kinds) if kind in WORKLOAD_KINDS]
    assert len(workloads) == 3
    assert limit_range < quota < min(workloads)
    # Policies are in place before any pod can start.
    policies = [i for i, kind in enumerate(kinds) if kind == "NetworkPolicy"]
    assert max(policies) < min(workloads)


def test_tenancy_manifests_alone_are_the_namespace_scaffolding(spec: StoreSpec, settings: Settings) -> None:
    kinds = [m["kind"] for m in tenancy_manifests(spec, settings, web_port=WEB_PORT, db_port=DB_PORT)]
    assert kinds == ["Namespace", "LimitRange", "ResourceQuota"] + ["NetworkPolicy"] * len(POLICY_NAMES)


# -- quota and limits -----------------------------------------------------------------------


def _containers(template: dict[str, Any]) -> list[dict[str, Any]]:
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _replicas(workload: Manifest) -> int:
    if workload["kind"] == "Job":
        return int(workload["spec"].get("parallelism", 1))
    return int(workload["spec"].get("replicas", 1))


def test_quota_values_come_from_settings(manifests: list[Manifest], settings: Settings) -> None:
    hard = one(manifests, "ResourceQuota")["spec"]["hard"]
    assert hard["limits.cpu"] == settings.quota_limits_cpu
    assert hard["limits.memory"] == settings.quota_limits_memory
    assert hard["requests.cpu"] == settings.quota_requests_cpu
    assert hard["requests.memory"] == settings.quota_requests_memory
    assert hard["requests.storage"] == settings.quota_storage
    assert hard["pods"] == str(settings.quota_pods)
    assert hard["services.loadbalancers"] == "0"
    assert hard["services.nodeports"] == "0"


def test_all_pods_together_fit_in_the_resource_quota(manifests: list[Manifest]) -> None:
    hard = one(manifests, "ResourceQuota")["spec"]["hard"]
    # A rolling update would briefly run two web pods; Recreate never does.
    assert one(manifests, "Deployment")["spec"]["strategy"]["type"] == "Recreate"
    totals = {"limits.cpu": Decimal(0), "limits.memory": Decimal(0), "requests.cpu": Decimal(0)}
    totals["requests.memory"] = Decimal(0)
    pods = 0
    for workload, template in pod_templates(manifests):
        replicas = _replicas(workload)
        pods += replicas
        for container in _containers(template):
            resources = container["resources"]
            for kind in ("limits", "requests"):
                for resource in ("cpu", "memory"):
                    totals[f"{kind}.{resource}"] += replicas * quantity(resources[kind][resource])
    for key, total in totals.items():
        assert total <= quantity(hard[key]), f"{key}: pods need {total}, quota allows {hard[key]}"
    assert pods <= int(hard["pods"])


def test_volumes_fit_in_the_storage_quota(manifests: list[Manifest], settings: Settings) -> None:
    hard = one(manifests, "ResourceQuota")["spec"]["hard"]
    claims = [m["spec"] for m in by_kind(manifests, "PersistentVolumeClaim")]
    for statefulset in by_kind(manifests, "StatefulSet"):
        claims += [t["spec"] for t in statefulset["spec"]["volumeClaimTemplates"]] * _replicas(statefulset)
    requested = sum((quantity(c["resources"]["requests"]["storage"]) for c in claims), Decimal(0))
    assert len(claims) <= int(hard["persistentvolumeclaims"])
    assert requested <= quantity(hard["requests.storage"])


def test_each_container_fits_the_limit_range(manifests: list[Manifest]) -> None:
    (rule,) = one(manifests, "LimitRange")["spec"]["limits"]
    assert rule["type"] == "Container"
    for resource in ("cpu", "memory"):
        assert quantity(rule["defaultRequest"][resource]) <= quantity(rule["default"][resource])
        assert quantity(rule["default"][resource]) <= quantity(rule["max"][resource])
    checked = 0
    for workload, template in pod_templates(manifests):
        for container in _containers(template):
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                where = f"{workload['kind']}/{container['name']} {resource}"
                limit = quantity(resources["limits"][resource])
                assert limit <= quantity(rule["max"][resource]), where
                assert quantity(resources["requests"][resource]) <= limit, where
            checked += 1
    assert checked == 3


# -- NetworkPolicy evaluator ----------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Labels) -> bool:
    """LabelSelector semantics: {} matches everything; all terms must hold."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        if operator == "In":
            if labels.get(key) not in expression["values"]:
                return False
        elif operator == "NotIn":
            if key in labels and labels[key] in expression["values"]:
                return False
        elif operator == "Exists":
            if key not in labels:
                return False
        elif operator == "DoesNotExist":
            if key in labels:
                return False
        else:
            raise AssertionError(f"unknown selector operator {operator!r}")
    return True


def namespace_labels(namespace: str) -> dict[str, str]:
    return {NS_NAME_LABEL: namespace}


def peer_matches(
    peer: Mapping[str, Any], policy_ns: str, labels: Labels | None, namespace: str | None, ip: str | None
) -> bool:
    if "ipBlock" in peer:
        if ip is None:
            return False
        address = ipaddress.ip_address(ip)
        block = peer["ipBlock"]
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    if labels is None or namespace is None:
        return False  # not a pod: only ipBlock peers can match
    namespace_selector = peer.get("namespaceSelector")
    if namespace_selector is None:
        if namespace != policy_ns:
            return False
    elif not selector_matches(namespace_selector, namespace_labels(namespace)):
        return False
    pod_selector = peer.get("podSelector")
    return pod_selector is None or selector_matches(pod_selector, labels)


def ports_match(rule_ports: Sequence[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in rule_ports)


def policy_types(policy: Manifest) -> list[str]:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]


def direction_allows(
    policies: Sequence[Manifest],
    direction: str,
    pod_labels: Labels,
    pod_ns: str,
    peer_labels: Labels | None,
    peer_ns: str | None,
    peer_ip: str | None,
    port: int,
    protocol: str,
) -> bool:
    """Is traffic allowed in `direction` ("Ingress"/"Egress") for the pod, given the peer?"""
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod_ns
        and direction in policy_types(p)
        and selector_matches(p["spec"]["podSelector"], pod_labels)
    ]
    if not selecting:
        return True  # not isolated in this direction
    peers_key = "from" if direction == "Ingress" else "to"
    for policy in selecting:
        for rule in policy["spec"].get(direction.lower(), []) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                peer_matches(peer, policy["metadata"]["namespace"], peer_labels, peer_ns, peer_ip) for peer in peers
            )
            if peer_ok and ports_match(rule.get("ports"), port, protocol):
                return True
    return False


POD_IP = "10.244.3.7"


def allowed(
    policies: Sequence[Manifest],
    src_labels: Labels | None,
    src_ns: str | None,
    dst_labels: Labels | None,
    dst_ns: str | None,
    port: int,
    *,
    protocol: str = "TCP",
    dst_ip: str | None = None,
) -> bool:
    """Both the source's egress and the destination's ingress must allow the connection.

    A destination without labels is an address outside the cluster (`dst_ip`); pods get an
    address in the cluster's pod range, which ipBlock rules see too.
    """
    if dst_labels is not None and dst_ip is None:
        dst_ip = POD_IP
    egress_ok = (
        src_labels is None
        or src_ns is None
        or direction_allows(policies, "Egress", src_labels, src_ns, dst_labels, dst_ns, dst_ip, port, protocol)
    )
    ingress_ok = (
        dst_labels is None
        or dst_ns is None
        or direction_allows(policies, "Ingress", dst_labels, dst_ns, src_labels, src_ns, POD_IP, port, protocol)
    )
    return egress_ok and ingress_ok


def test_evaluator_on_a_hand_written_policy() -> None:
    """The evaluator itself: isolation, peers, ports and matchExpressions."""
    policy: Manifest = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}],
        },
    }
    web, db = {"app": "web"}, {"app": "db"}
    assert allowed([policy], web, "ns", db, "ns", 5432)
    assert not allowed([policy], web, "ns", db, "ns", 5433)
    assert not allowed([policy], web, "other", db, "ns", 5432)
    assert not allowed([policy], {"app": "x"}, "ns", db, "ns", 5432)
    assert allowed([policy], db, "ns", web, "ns", 80), "web is not selected, so not isolated"
    assert allowed([], None, None, db, "ns", 1)


# -- NetworkPolicies ------------------------------------------------------------------------


@pytest.fixture
def policies(manifests: list[Manifest]) -> list[Manifest]:
    return by_kind(manifests, "NetworkPolicy")


def test_exactly_the_expected_policies_exist(policies: list[Manifest]) -> None:
    names = [p["metadata"]["name"] for p in policies]
    assert sorted(names) == sorted(POLICY_NAMES)


def test_one_default_deny_for_everything(policies: list[Manifest]) -> None:
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    assert len(deny) == 1
    (policy,) = deny
    assert policy["metadata"]["name"] == "default-deny"
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert set(policy["spec"]) == {"podSelector", "policyTypes"}


def test_dns_egress_to_kube_dns_on_53_udp_and_tcp(policies: list[Manifest]) -> None:
    dns = next(p for p in policies if p["metadata"]["name"] == "allow-dns")
    assert dns["spec"]["podSelector"] == {}
    assert dns["spec"]["policyTypes"] == ["Egress"]
    (rule,) = dns["spec"]["egress"]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"] == {"matchLabels": {NS_NAME_LABEL: "kube-system"}}
    assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_web_ingress_only_from_the_ingress_controller_namespace(
    policies: list[Manifest], manifests: list[Manifest], settings: Settings
) -> None:
    web_labels = pod_labels(manifests, "Deployment")
    rules = [
        rule
        for p in policies
        if "Ingress" in policy_types(p) and selector_matches(p["spec"]["podSelector"], web_labels)
        for rule in p["spec"].get("ingress", [])
    ]
    assert len(rules) == 1
    (rule,) = rules
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: settings.ingress_controller_namespace}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": WEB_PORT}]


def test_database_ingress_only_from_web_setup_and_cron_pods_on_3306(
    policies: list[Manifest], manifests: list[Manifest]
) -> None:
    db_labels = pod_labels(manifests, "StatefulSet")
    rules = [
        rule
        for p in policies
        if "Ingress" in policy_types(p) and selector_matches(p["spec"]["podSelector"], db_labels)
        for rule in p["spec"].get("ingress", [])
    ]
    assert len(rules) == 1
    (rule,) = rules
    assert rule["ports"] == [{"protocol": "TCP", "port": DB_PORT}]
    sources = rule["from"]
    assert sources, "an empty 'from' would allow every source"
    for peer in sources:
        assert set(peer) == {"podSelector"}, "no namespaceSelector or ipBlock: same namespace only"
    components = sorted(peer["podSelector"]["matchLabels"][LABEL_COMPONENT] for peer in sources)
    assert components == ["cron", "setup", "web"]


def test_no_policy_admits_other_namespaces_to_the_database(policies: list[Manifest], manifests: list[Manifest]) -> None:
    db_labels = pod_labels(manifests, "StatefulSet")
    for policy in policies:
        if "Ingress" not in policy_types(policy) or not selector_matches(policy["spec"]["podSelector"], db_labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), policy["metadata"]["name"]
            for peer in rule["from"]:
                assert "namespaceSelector" not in peer and "ipBlock" not in peer, policy["metadata"]["name"]


def test_web_and_setup_egress_to_database(policies: list[Manifest], manifests: list[Manifest], spec: StoreSpec) -> None:
    db_labels = pod_labels(manifests, "StatefulSet")
    for kind in ("Deployment", "Job"):
        src = pod_labels(manifests, kind)
        assert direction_allows(
            policies, "Egress", src, spec.namespace, db_labels, spec.namespace, POD_IP, DB_PORT, "TCP"
        ), kind
        assert not direction_allows(
            policies, "Egress", src, spec.namespace, db_labels, spec.namespace, POD_IP, DB_PORT + 1, "TCP"
        ), kind
    # The database itself has no reason to open connections to its own port.
    assert not direction_allows(
        policies, "Egress", db_labels, spec.namespace, db_labels, spec.namespace, POD_IP, DB_PORT, "TCP"
    )


def test_setup_internet_egress_is_443_and_80_without_private_ranges(policies: list[Manifest]) -> None:
    internet = next(p for p in policies if p["metadata"]["name"] == "allow-setup-egress-internet")
    assert internet["spec"]["podSelector"] == {"matchLabels": {LABEL_COMPONENT: "setup"}}
    assert internet["spec"]["policyTypes"] == ["Egress"]
    (rule,) = internet["spec"]["egress"]
    (peer,) = rule["to"]
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    excepted = {ipaddress.ip_network(c) for c in peer["ipBlock"]["except"]}
    for private in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"):
        assert ipaddress.ip_network(private) in excepted
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 80), ("TCP", 443)]


def test_only_the_setup_policy_reaches_outside_the_cluster(policies: list[Manifest]) -> None:
    with_ip_blocks = {
        p["metadata"]["name"]
        for p in policies
        for rule in p["spec"].get("egress", []) + p["spec"].get("ingress", [])
        for peer in rule.get("to", []) + rule.get("from", [])
        if "ipBlock" in peer
    }
    assert with_ip_blocks == {"allow-setup-egress-internet"}


CONTROLLER = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
KUBE_DNS = {"k8s-app": "kube-dns"}
STRANGER = {"app": "stranger"}
PUBLIC_IP = "93.184.216.34"


def test_flow_matrix(policies: list[Manifest], manifests: list[Manifest], spec: StoreSpec, settings: Settings) -> None:
    ns = spec.namespace
    web = pod_labels(manifests, "Deployment")
    db = pod_labels(manifests, "StatefulSet")
    setup = pod_labels(manifests, "Job")
    controller_ns = settings.ingress_controller_namespace
    other_ns = "store-other-0123abcd"
    # The same component labels in another store's namespace must not help.
    other_web = {**web, LABEL_STORE_ID: "0123abcd" * 4}

    matrix: list[tuple[str, bool, bool]] = [
        ("controller -> web:80", allowed(policies, CONTROLLER, controller_ns, web, ns, WEB_PORT), True),
        ("controller -> web:8080", allowed(policies, CONTROLLER, controller_ns, web, ns, 8080), False),
        ("controller -> db:3306", allowed(policies, CONTROLLER, controller_ns, db, ns, DB_PORT), False),
        ("web -> db:3306", allowed(policies, web, ns, db, ns, DB_PORT), True),
        ("web -> db:3306/UDP", allowed(policies, web, ns, db, ns, DB_PORT, protocol="UDP"), False),
        ("setup -> db:3306", allowed(policies, setup, ns, db, ns, DB_PORT), True),
        ("web -> db:22", allowed(policies, web, ns, db, ns, 22), False),
        ("db -> web:80", allowed(policies, db, ns, web, ns, WEB_PORT), False),
        ("setup -> web:80", allowed(policies, setup, ns, web, ns, WEB_PORT), False),
        ("web -> web:80", allowed(policies, web, ns, web, ns, WEB_PORT), False),
        ("other-namespace pod -> web:80", allowed(policies, STRANGER, other_ns, web, ns, WEB_PORT), False),
        ("other-namespace pod -> db:3306", allowed(policies, STRANGER, other_ns, db, ns, DB_PORT), False),
        ("other store's web -> db:3306", allowed(policies, other_web, other_ns, db, ns, DB_PORT), False),
        ("kube-system pod -> db:3306", allowed(policies, KUBE_DNS, "kube-system", db, ns, DB_PORT), False),
        ("web -> other-namespace pod:80", allowed(policies, web, ns, STRANGER, other_ns, 80), False),
        ("web -> internet:443", allowed(policies, web, ns, None, None, 443, dst_ip=PUBLIC_IP), False),
        ("db -> internet:443", allowed(policies, db, ns, None, None, 443, dst_ip=PUBLIC_IP), False),
        ("setup -> internet:443", allowed(policies, setup, ns, None, None, 443, dst_ip=PUBLIC_IP), True),
        ("setup -> internet:80", allowed(policies, setup, ns, None, None, 80, dst_ip=PUBLIC_IP), True),
        ("setup -> internet:22", allowed(policies, setup, ns, None, None, 22, dst_ip=PUBLIC_IP), False),
        ("setup -> 10.0.0.5:443", allowed(policies, setup, ns, None, None, 443, dst_ip="10.0.0.5"), False),
        ("setup -> 172.20.0.1:443", allowed(policies, setup, ns, None, None, 443, dst_ip="172.20.0.1"), False),
        ("setup -> 192.168.1.1:80", allowed(policies, setup, ns, None, None, 80, dst_ip="192.168.1.1"), False),
        ("setup -> metadata:80", allowed(policies, setup, ns, None, None, 80, dst_ip="169.254.169.254"), False),
        ("setup -> other pod:443", allowed(policies, setup, ns, STRANGER, other_ns, 443), False),
        ("web -> kube-dns:53/UDP", allowed(policies, web, ns, KUBE_DNS, "kube-system", 53, protocol="UDP"), True),
        ("web -> kube-dns:53/TCP", allowed(policies, web, ns, KUBE_DNS, "kube-system", 53), True),
        ("db -> kube-dns:53/UDP", allowed(policies, db, ns, KUBE_DNS, "kube-system", 53, protocol="UDP"), True),
        ("setup -> kube-dns:53/UDP", allowed(policies, setup, ns, KUBE_DNS, "kube-system", 53, protocol="UDP"), True),
        ("web -> kube-dns:80", allowed(policies, web, ns, KUBE_DNS, "kube-system", 80), False),
        ("web -> other kube-system pod:53", allowed(policies, web, ns, STRANGER, "kube-system", 53), False),
        ("web -> kube-dns labels elsewhere:53", allowed(policies, web, ns, KUBE_DNS, other_ns, 53), False),
    ]
    wrong = [f"{name}: got {got}, want {want}" for name, got, want in matrix if got != want]
    assert not wrong, "\n".join(wrong)


def test_controller_namespace_follows_settings(tmp_path: Path, spec: StoreSpec) -> None:
    traefik = make_settings(tmp_path, ingress_class="traefik", ingress_controller_namespace="kube-system")
    policies = by_kind(WooCommerceEngine().workloads(spec, traefik), "NetworkPolicy")
    manifests = WooCommerceEngine().workloads(spec, traefik)
    web = pod_labels(manifests, "Deployment")
    traefik_pod = {"app.kubernetes.io/name": "traefik"}
    assert allowed(policies, traefik_pod, "kube-system", web, spec.namespace, WEB_PORT)
    assert not allowed(policies, CONTROLLER, "ingress-nginx", web, spec.namespace, WEB_PORT)
