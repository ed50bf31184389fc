"""Objects every store namespace gets, whatever the engine.

Order matters and is encoded in `tenancy_manifests`: the LimitRange must exist before any
workload, because a ResourceQuota on limits rejects pods that declare none.
"""

from __future__ import annotations

from provisioning.engines.base import (
    LABEL_COMPONENT,
    LABEL_OWNER,
    Manifest,
    StoreSpec,
    metadata,
    store_labels,
)
from provisioning.settings import Settings

POD_SECURITY_LEVEL = "restricted"
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
# Cluster-internal address ranges: egress to the internet must not reach them.
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]


def namespace(spec: StoreSpec) -> Manifest:
    labels = store_labels(spec)
    labels[LABEL_OWNER] = spec.owner
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = POD_SECURITY_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spec.namespace, "labels": labels}}


def resource_quota(spec: StoreSpec, settings: Settings) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": metadata(spec, "store-quota"),
        "spec": {
            "hard": {
                "requests.cpu": settings.quota_requests_cpu,
                "requests.memory": settings.quota_requests_memory,
                "limits.cpu": settings.quota_limits_cpu,
                "limits.memory": settings.quota_limits_memory,
                "requests.storage": settings.quota_storage,
                "persistentvolumeclaims": "4",
                "pods": str(settings.quota_pods),
                "services": "5",
                "services.loadbalancers": "0",
                "services.nodeports": "0",
            }
        },
    }


def limit_range(spec: StoreSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": metadata(spec, "store-limits"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "512Mi"},
                    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                    "max": {"cpu": "1", "memory": "1Gi"},
                }
            ]
        },
    }


def _policy(spec: StoreSpec, name: str, body: dict) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(spec, name),
        "spec": body,
    }


def _component(name: str) -> dict:
    return {"matchLabels": {LABEL_COMPONENT: name}}


DEFAULT_DB_CLIENTS = ("web", "setup")


def network_policies(
    spec: StoreSpec,
    settings: Settings,
    *,
    web_port: int,
    db_port: int,
    db_clients: tuple[str, ...] = DEFAULT_DB_CLIENTS,
) -> list[Manifest]:
    """Default deny, then exactly the flows a working store needs.

    - ingress controller -> web (`web_port`), from the controller's namespace only;
    - the `db_clients` components (web, setup, and e.g. WooCommerce's cron) -> database
      (`db_port`), both directions declared;
    - every pod -> cluster DNS;
    - setup -> the public internet on 443/80 (WP-CLI downloads WooCommerce), never to
      private ranges, so a store cannot reach other tenants or the cluster's internals.
    """
    controller_ns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.ingress_controller_namespace}}
    }
    return [
        _policy(spec, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(
            spec,
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": DNS_PORTS,
                    }
                ],
            },
        ),
        _policy(
            spec,
            "allow-ingress-controller-to-web",
            {
                "podSelector": _component("web"),
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [controller_ns], "ports": [{"protocol": "TCP", "port": web_port}]}],
            },
        ),
        _policy(
            spec,
            "allow-app-to-database",
            {
                "podSelector": _component("database"),
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": _component(client)} for client in db_clients],
                        "ports": [{"protocol": "TCP", "port": db_port}],
                    }
                ],
            },
        ),
        _policy(
            spec,
            "allow-app-egress-to-database",
            {
                "podSelector": {
                    "matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": list(db_clients)}]
                },
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"podSelector": _component("database")}],
                        "ports": [{"protocol": "TCP", "port": db_port}],
                    }
                ],
            },
        ),
        _policy(
            spec,
            "allow-setup-egress-internet",
            {
                "podSelector": _component("setup"),
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}}],
                        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 80}],
                    }
                ],
            },
        ),
    ]


def tenancy_manifests(
    spec: StoreSpec,
    settings: Settings,
    *,
    web_port: int,
    db_port: int,
    db_clients: tuple[str, ...] = DEFAULT_DB_CLIENTS,
) -> list[Manifest]:
    return [
        namespace(spec),
        limit_range(spec),
        resource_quota(spec, settings),
        *network_policies(spec, settings, web_port=web_port, db_port=db_port, db_clients=db_clients),
    ]
