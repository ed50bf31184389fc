"""Objects every store namespace gets, whatever the engine.

Order matters and is encoded in `tenancy_manifests`: the LimitRange must exist before any
workload, because a ResourceQuota on limits rejects pods that declare none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from provisioning.catalog.plans import BASE_LIMITS, EnginePlan
from provisioning.engines.base import (
    LABEL_COMPONENT,
    LABEL_OWNER,
    SECRET_NAME,
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


def resource_quota(
    spec: StoreSpec,
    settings: Settings,
    *,
    overrides: Mapping[str, str] | None = None,
    plan: EnginePlan | None = None,
) -> Manifest:
    """The store's quota; `overrides` lets an engine whose pods need more (Medusa) say so,
    and the store's `plan` (provisioning/catalog/plans.py) has the last word.

    Overrides come from that engine's own settings, so every value stays a setting.
    """
    hard = {
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
    hard.update(overrides or {})
    hard.update(plan.quota if plan else {})
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": metadata(spec, "store-quota"),
        "spec": {"hard": hard},
    }


def limit_range(spec: StoreSpec, *, plan: EnginePlan | None = None) -> Manifest:
    limits = plan.limits if plan else BASE_LIMITS
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": metadata(spec, "store-limits"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": dict(limits["default"]),
                    "defaultRequest": dict(limits["defaultRequest"]),
                    "max": dict(limits["max"]),
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


@dataclass(frozen=True)
class Flow:
    """Pods of the `clients` components may open TCP connections to `server` on `port`.

    Rendered as two policies because default-deny blocks both ends: ingress on the
    server's pods (`allow-app-to-<server>`) and egress on the clients' pods
    (`allow-app-egress-to-<server>`). Peers are pod selectors without a namespace
    selector, so only pods of the store's own namespace match.
    """

    server: str
    port: int
    clients: tuple[str, ...]


@dataclass(frozen=True)
class NetworkFlows:
    """Every connection an engine's pods accept or open, besides DNS (always allowed).

    - `public`: the component the ingress controller reaches, on `public_port`;
    - `internal`: flows between the store's own components;
    - `internet`: components that may reach the public internet on 443/80 (never the
      private ranges), e.g. WooCommerce's setup downloading the plugin. Empty for an
      engine whose image carries everything it runs (Medusa).
    """

    public: str
    public_port: int
    internal: tuple[Flow, ...] = ()
    internet: tuple[str, ...] = ()


def web_store_flows(*, web_port: int, db_port: int, db_clients: tuple[str, ...] = DEFAULT_DB_CLIENTS) -> NetworkFlows:
    """WooCommerce's flows: controller -> web, `db_clients` -> database, setup -> internet."""
    return NetworkFlows(
        public="web",
        public_port=web_port,
        internal=(Flow("database", db_port, tuple(db_clients)),),
        internet=("setup",),
    )


def _components(names: tuple[str, ...]) -> dict:
    if len(names) == 1:
        return _component(names[0])
    return {"matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": list(names)}]}


def network_policies(
    spec: StoreSpec,
    settings: Settings,
    *,
    web_port: int | None = None,
    db_port: int | None = None,
    db_clients: tuple[str, ...] = DEFAULT_DB_CLIENTS,
    flows: NetworkFlows | None = None,
) -> list[Manifest]:
    """Default deny, then exactly the flows a working store needs.

    An engine declares its `flows`; `web_port`/`db_port`/`db_clients` are the short form
    for a web + database store (WooCommerce), see `web_store_flows`. Every pod may reach
    cluster DNS; the ingress controller is admitted from its own namespace only.
    """
    if flows is None:
        if web_port is None or db_port is None:
            raise ValueError("network_policies needs either flows or web_port and db_port")
        flows = web_store_flows(web_port=web_port, db_port=db_port, db_clients=db_clients)
    controller_ns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": settings.ingress_controller_namespace}}
    }
    policies = [
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
            f"allow-ingress-controller-to-{flows.public}",
            {
                "podSelector": _component(flows.public),
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [controller_ns], "ports": [{"protocol": "TCP", "port": flows.public_port}]}],
            },
        ),
    ]
    for flow in flows.internal:
        policies += [
            _policy(
                spec,
                f"allow-app-to-{flow.server}",
                {
                    "podSelector": _component(flow.server),
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"podSelector": _component(client)} for client in flow.clients],
                            "ports": [{"protocol": "TCP", "port": flow.port}],
                        }
                    ],
                },
            ),
            _policy(
                spec,
                f"allow-app-egress-to-{flow.server}",
                {
                    "podSelector": {
                        "matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": list(flow.clients)}]
                    },
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"podSelector": _component(flow.server)}],
                            "ports": [{"protocol": "TCP", "port": flow.port}],
                        }
                    ],
                },
            ),
        ]
    if flows.internet:
        policies.append(
            _policy(
                spec,
                f"allow-{'-'.join(flows.internet)}-egress-internet",
                {
                    "podSelector": _components(flows.internet),
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}}],
                            "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 80}],
                        }
                    ],
                },
            )
        )
    return policies


def tenancy_manifests(
    spec: StoreSpec,
    settings: Settings,
    *,
    web_port: int | None = None,
    db_port: int | None = None,
    db_clients: tuple[str, ...] = DEFAULT_DB_CLIENTS,
    flows: NetworkFlows | None = None,
    quota: Mapping[str, str] | None = None,
    plan: EnginePlan | None = None,
) -> list[Manifest]:
    return [
        namespace(spec),
        limit_range(spec, plan=plan),
        resource_quota(spec, settings, overrides=quota, plan=plan),
        *network_policies(spec, settings, web_port=web_port, db_port=db_port, db_clients=db_clients, flows=flows),
    ]


def store_ingress(
    spec: StoreSpec,
    settings: Settings,
    *,
    service: str,
    port: int,
    component: str = "web",
    body_size: str = "64m",
) -> Manifest:
    """The Ingress `store` routing `<name>.<DOMAIN>` to the engine's public Service.

    One builder for every engine, so the class, TLS and cert-manager settings mean the same
    thing for a WooCommerce and a Medusa store. `body_size` lifts nginx's 1 MiB default
    for uploads (product images, plugin zips).
    """
    host = spec.host(settings)
    annotations: dict[str, str] = {}
    if settings.ingress_class == "nginx":
        annotations["nginx.ingress.kubernetes.io/proxy-body-size"] = body_size
    body: dict = {
        "ingressClassName": settings.ingress_class,
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": service, "port": {"number": port}}},
                        }
                    ]
                },
            }
        ],
    }
    if settings.tls_enabled:
        body["tls"] = [{"hosts": [host], "secretName": "store-tls"}]
        if settings.cert_manager_issuer:
            annotations["cert-manager.io/cluster-issuer"] = settings.cert_manager_issuer
    meta = metadata(spec, "store", component=component)
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": body}


def credentials_secret(spec: StoreSpec, values: Mapping[str, str]) -> Manifest:
    """The store's Secret: created once (never re-applied, so passwords never rotate)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(spec, SECRET_NAME),
        "type": "Opaque",
        "stringData": dict(values),
    }
