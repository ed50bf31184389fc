"""A store's namespace on the real API server: Pod Security rejects privileged pods, and
the NetworkPolicies allow exactly the intended flows.

The control plane has no network plugin, so traffic is not enforced here; what is tested
is what any NetworkPolicy implementation would enforce: the policies as the API server
stored them, evaluated by a small implementation of the NetworkPolicy rules (pod and
namespace selectors with matchLabels/matchExpressions, ipBlock with except, ports)
against the store's real pods (their labels as the API returns them) and outside peers.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from provisioning.engines.base import LABEL_COMPONENT
from provisioning.errors import ClusterRejectedError
from provisioning.models import Store, StoreStatus
from tests.reliability.support import StorePlatform, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

RESTRICTED_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "compliant"},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "image": "busybox:1.36",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
    },
}


def variant(name: str, change: Any) -> dict[str, Any]:
    pod = copy.deepcopy(RESTRICTED_POD)
    pod["metadata"]["name"] = name
    change(pod["spec"], pod["spec"]["containers"][0])
    return pod


# Each breaks a rule of the "restricted" Pod Security profile (a privileged container must
# also allow privilege escalation, or validation refuses it before admission).
VIOLATIONS = {
    "privileged": lambda spec, c: c["securityContext"].update(privileged=True, allowPrivilegeEscalation=True),
    "root": lambda spec, c: spec["securityContext"].update(runAsNonRoot=False, runAsUser=0),
    "host-network": lambda spec, c: spec.update(hostNetwork=True),
    "host-pid": lambda spec, c: spec.update(hostPID=True),
    "host-path": lambda spec, c: spec.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
    "added-capability": lambda spec, c: c["securityContext"].update(capabilities={"add": ["NET_ADMIN"]}),
    "privilege-escalation": lambda spec, c: c["securityContext"].update(allowPrivilegeEscalation=True),
    "no-seccomp": lambda spec, c: spec["securityContext"].pop("seccompProfile"),
    "host-port": lambda spec, c: c.update(ports=[{"containerPort": 80, "hostPort": 80}]),
}


@pytest.fixture
def ready_store(pg_platform: StorePlatform, control_plane: Any) -> Iterator[tuple[StorePlatform, Store]]:
    platform = pg_platform
    assert platform.kube is not None
    kube = platform.kube
    store = platform.create("fence")
    platform.drive(store.id, lambda s: s.status == StoreStatus.READY, timeout=120)
    wait_until(lambda: len(kube.list("v1", "Pod", namespace=store.namespace)) >= 3, timeout=30, what="the store's pods")
    yield platform, store


def test_pod_security_rejects_privileged_pods_in_a_store_namespace(ready_store: tuple[StorePlatform, Store]) -> None:
    platform, store = ready_store
    assert platform.kube is not None
    labels = platform.kube.get("v1", "Namespace", store.namespace)["metadata"]["labels"]  # type: ignore[index]
    assert {labels[f"pod-security.kubernetes.io/{mode}"] for mode in ("enforce", "audit", "warn")} == {"restricted"}
    rejected: dict[str, str] = {}
    for name, change in VIOLATIONS.items():
        pod = variant(name, change)
        pod["metadata"]["namespace"] = store.namespace
        with pytest.raises(ClusterRejectedError) as refusal:
            platform.kube.apply(pod)
        rejected[name] = str(refusal.value)
        assert 'violates PodSecurity "restricted:latest"' in rejected[name], rejected[name]
        assert getattr(refusal.value, "status", None) == 403
        assert platform.kube.get("v1", "Pod", name, namespace=store.namespace) is None
    # The same pod without the violation is admitted: the refusals are Pod Security's.
    compliant = copy.deepcopy(RESTRICTED_POD)
    compliant["metadata"]["namespace"] = store.namespace
    platform.kube.apply(compliant)
    assert platform.kube.get("v1", "Pod", "compliant", namespace=store.namespace) is not None
    print(f"\nPod Security: {len(rejected)} of {len(VIOLATIONS)} violating pods rejected by the API server")


# -- a NetworkPolicy evaluator -------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A pod (namespace + labels + IP) or an address outside the cluster (namespace None)."""

    name: str
    ip: str
    namespace: str | None = None
    namespace_labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector selects everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(rule_peer: dict[str, Any], policy_namespace: str, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        block = rule_peer["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        return inside and not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if peer.namespace is None:
        return False  # pod/namespace selectors match pods only
    if "namespaceSelector" in rule_peer:
        if not selects(rule_peer["namespaceSelector"], peer.namespace_labels):
            return False
    elif peer.namespace != policy_namespace:
        return False  # a podSelector alone means the policy's own namespace
    return selects(rule_peer.get("podSelector"), peer.labels)


def port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def allowed(policies: list[dict[str, Any]], src: Peer, dst: Peer, port: int, protocol: str) -> bool:
    """Whether the policies of the store namespace let src reach dst:port (both directions checked)."""

    def side(direction: str, pod: Peer, other: Peer) -> bool:
        if pod.namespace is None or pod.namespace != policies[0]["metadata"]["namespace"]:
            return True  # not governed by these policies (outside peers, other namespaces)
        relevant = [
            p
            for p in policies
            if selects(p["spec"].get("podSelector"), pod.labels)
            and direction.capitalize() in p["spec"].get("policyTypes", [])
        ]
        if not relevant:
            return True
        key, peers_key = (direction, "from") if direction == "ingress" else (direction, "to")
        for policy in relevant:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                peer_ok = not peers or any(peer_matches(p, policy["metadata"]["namespace"], other) for p in peers)
                if peer_ok and port_matches(rule.get("ports"), port, protocol):
                    return True
        return False

    return side("egress", src, dst) and side("ingress", dst, src)


def test_network_policies_allow_only_the_intended_flows(ready_store: tuple[StorePlatform, Store]) -> None:
    platform, store = ready_store
    assert platform.kube is not None
    ns = store.namespace
    policies = platform.kube.list("networking.k8s.io/v1", "NetworkPolicy", namespace=ns)
    by_name = {p["metadata"]["name"]: p["spec"] for p in policies}
    controller_ns = platform.settings.ingress_controller_namespace

    # The policies as stored, selector by selector and port by port.
    assert by_name["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert by_name["allow-ingress-controller-to-web"]["podSelector"] == {"matchLabels": {LABEL_COMPONENT: "web"}}
    assert by_name["allow-ingress-controller-to-web"]["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": controller_ns}}}],
            "ports": [{"protocol": "TCP", "port": 80}],
        }
    ]
    assert by_name["allow-app-to-database"]["podSelector"] == {"matchLabels": {LABEL_COMPONENT: "database"}}
    assert by_name["allow-app-to-database"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 3306}]
    assert by_name["allow-dns"]["egress"][0]["ports"] == [
        {"protocol": "UDP", "port": 53},
        {"protocol": "TCP", "port": 53},
    ]
    assert by_name["allow-setup-egress-internet"]["podSelector"] == {"matchLabels": {LABEL_COMPONENT: "setup"}}

    # The store's real pods, as the API returns them, and peers around them.
    namespace_labels = platform.kube.get("v1", "Namespace", ns)["metadata"]["labels"]  # type: ignore[index]
    pods = {}
    for pod in platform.kube.list("v1", "Pod", namespace=ns):
        component = pod["metadata"]["labels"].get(LABEL_COMPONENT)
        if component in ("web", "database", "setup"):
            pods[component] = Peer(
                component, pod["status"].get("podIP") or "10.244.9.9", ns, namespace_labels, pod["metadata"]["labels"]
            )
    assert set(pods) == {"web", "database", "setup"}, pods
    outside = {
        "ingress controller": Peer(
            "ingress controller",
            "10.244.1.1",
            controller_ns,
            {"kubernetes.io/metadata.name": controller_ns},
            {"app": "ingress-nginx"},
        ),
        "cluster DNS": Peer(
            "cluster DNS",
            "10.96.0.10",
            "kube-system",
            {"kubernetes.io/metadata.name": "kube-system"},
            {"k8s-app": "kube-dns"},
        ),
        "other kube-system pod": Peer(
            "other kube-system pod",
            "10.244.2.2",
            "kube-system",
            {"kubernetes.io/metadata.name": "kube-system"},
            {"k8s-app": "metrics"},
        ),
        "another store's web": Peer(
            "another store's web",
            "10.244.3.3",
            "store-other-12345678",
            {"kubernetes.io/metadata.name": "store-other-12345678", "app.kubernetes.io/managed-by": "store-platform"},
            {LABEL_COMPONENT: "web"},
        ),
        "default namespace pod": Peer(
            "default namespace pod", "10.244.4.4", "default", {"kubernetes.io/metadata.name": "default"}, {"app": "x"}
        ),
        "internet": Peer("internet", "93.184.216.34"),
        "cloud metadata": Peer("cloud metadata", "169.254.169.254"),
        "private network": Peer("private network", "192.168.1.10"),
        "kubernetes API": Peer("kubernetes API", "10.96.0.1"),
    }
    peers = {**pods, **outside}
    ports = [(80, "TCP"), (443, "TCP"), (3306, "TCP"), (53, "UDP"), (53, "TCP"), (22, "TCP"), (8080, "TCP")]
    cases = [
        (src, dst, port, protocol)
        for src, a in peers.items()
        for dst, b in peers.items()
        if src != dst and (a.namespace == ns or b.namespace == ns)  # flows touching the store
        for port, protocol in ports
    ]
    flows = {
        (src, dst, f"{port}/{protocol}")
        for src, dst, port, protocol in cases
        if allowed(policies, peers[src], peers[dst], port, protocol)
    }
    intended = {
        ("ingress controller", "web", "80/TCP"),
        ("web", "database", "3306/TCP"),
        ("setup", "database", "3306/TCP"),
        ("setup", "internet", "443/TCP"),
        ("setup", "internet", "80/TCP"),
        *((component, "cluster DNS", f"53/{proto}") for component in pods for proto in ("UDP", "TCP")),
    }
    assert flows == intended, {"unexpected": flows - intended, "missing": intended - flows}
    print(
        f"\nNetworkPolicies: {len(cases)} (source, destination, port) cases evaluated, "
        f"{len(flows)} allowed, all intended"
    )
