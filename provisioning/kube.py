"""The only module that talks to the Kubernetes API.

Server-side apply with one field manager makes every apply idempotent and lets the API
server merge ownership; requests go through the official client's ApiClient (auth, TLS,
kubeconfig handling) with a small path table instead of one generated method per kind,
so applying any manifest is one code path. Errors are translated at this edge into
ClusterUnavailableError (retry later) or ClusterRejectedError (retrying will not help).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from kubernetes import client, config

from provisioning.engines.base import LABEL_MANAGED_BY, MANAGED_BY, Check, Manifest
from provisioning.errors import ClusterRejectedError, ClusterUnavailableError
from provisioning.observability import metrics
from provisioning.operations.store_logs import ContainerLog, read_logs
from provisioning.readiness import (
    Observation,
    event_fields,
    negated_time,
    observe_namespace,
    observe_object,
    pod_state,
)
from provisioning.settings import Settings

log = logging.getLogger(__name__)

FIELD_MANAGER = "store-platform"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# (connect, read) seconds. Every request here is small and answered in milliseconds; the
# read timeout leaves room for slow admission webhooks (10 s by default) and no more, so a
# hung API server is noticed (and the portal's banner shown) within seconds.
REQUEST_TIMEOUT = (5, 15)
PROBE_TIMEOUT = (5, 5)

# (apiVersion, kind) -> (plural, namespaced)
RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Node"): ("nodes", False),
    ("v1", "PersistentVolume"): ("persistentvolumes", False),
    ("v1", "ResourceQuota"): ("resourcequotas", True),
    ("v1", "LimitRange"): ("limitranges", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("storage.k8s.io/v1", "StorageClass"): ("storageclasses", False),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Event"): ("events", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
}
API_VERSION_OF_KIND = {kind: api_version for api_version, kind in RESOURCES}


def resource_path(api_version: str, kind: str, *, namespace: str | None = None, name: str | None = None) -> str:
    """URL path of a collection (no name) or an object; pure, for tests and callers alike."""
    try:
        plural, namespaced = RESOURCES[(api_version, kind)]
    except KeyError:
        raise ValueError(f"unsupported kind {api_version}/{kind}") from None
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespaced and namespace:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{plural}"
    return base + (f"/{quote(name)}" if name else "")


def manifest_path(manifest: Manifest) -> str:
    meta = manifest["metadata"]
    return resource_path(manifest["apiVersion"], manifest["kind"], namespace=meta.get("namespace"), name=meta["name"])


@dataclass
class ClusterInfo:
    reachable: bool
    context: str
    server: str = ""
    version: str = ""
    simulated: bool = False
    error: str = ""
    # kwok's nodes by name: a store whose pods run only elsewhere is checked for real.
    fake_nodes: frozenset[str] = frozenset()


@dataclass
class WarningEvent:
    reason: str
    message: str
    object: str
    count: int = 1
    last_seen: str = ""


@dataclass
class StoreInsight:
    """Live detail for one store's page: events (warnings first), pods, quota use."""

    events: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    quota: list[dict[str, str]]


@dataclass
class RequestCounter:
    """Counts API requests by verb, for benchmarks and steady-state checks."""

    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, verb: str) -> None:
        with self.lock:
            self.counts[verb] = self.counts.get(verb, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class FailFastRetry(urllib3.Retry):
    """Retry a connection the server dropped (once), never a request that timed out.

    urllib3's default retries a timed-out GET three times: against a hung API server one
    read took 30 s + 3 x 5 s = 45 s, longer than the outages the reconciler must report.
    The reconciler has its own backoff, so a timeout surfaces at once instead.
    """

    def increment(self, *args: Any, **kwargs: Any) -> FailFastRetry:
        error = kwargs.get("error", args[3] if len(args) > 3 else None)
        if isinstance(error, urllib3.exceptions.TimeoutError):
            raise error
        return super().increment(*args, **kwargs)


RETRY = FailFastRetry(total=1, redirect=0, status=0)
# Connections kept open to the API server: enough for the reconciler's store workers
# (MAX_CONCURRENT_PROVISIONING) plus its apply pool; they are opened only when needed.
MAX_CONNECTIONS = 128


class KubeCluster:
    """A connection to one cluster. Thread-safe: the reconciler's workers share it."""

    def __init__(self, api_client: client.ApiClient, *, context: str = "") -> None:
        self.api = api_client
        self.context = context
        self.requests = RequestCounter()
        pool = api_client.rest_client.pool_manager
        pool.connection_pool_kw["retries"] = RETRY
        # Keep one connection per concurrent caller (up to MAX_CONNECTIONS) rather than the
        # client's default of cpu_count * 5: beyond that, each extra concurrent request
        # opened a new TLS connection that urllib3 then threw away ("Connection pool is
        # full"), which made 100 stores in flight pay a TLS handshake per request.
        pool.connection_pool_kw["maxsize"] = max(pool.connection_pool_kw.get("maxsize") or 1, MAX_CONNECTIONS)
        pool.clear()  # pools made before this line keep their own retries and size

    # -- connection -----------------------------------------------------------------------

    @classmethod
    def connect(cls, settings: Settings) -> KubeCluster:
        """In-cluster config when running in a pod, else the kubeconfig (KUBE_CONTEXT)."""
        context = settings.kube_context
        try:
            if os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
                return cls(client.ApiClient(configuration), context="in-cluster")
            # Read KUBECONFIG now: the client library reads it once, at import time.
            config_file = os.environ.get("KUBECONFIG") or None
            if not context:
                _, active = config.list_kube_config_contexts(config_file=config_file)
                context = active["name"]
            return cls(config.new_client_from_config(config_file=config_file, context=context), context=context)
        except Exception as error:  # kubeconfig missing, malformed, unknown context...
            where = f"context {context!r}" if context else "the current kubeconfig context"
            raise ClusterUnavailableError(f"Cannot load {where}: {error}") from error

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def probe(self) -> ClusterInfo:
        """Reachability, version and whether the nodes are kwok's simulated ones."""
        try:
            version = self._request("GET", "/version", timeout=PROBE_TIMEOUT).get("gitVersion", "")
        except ClusterUnavailableError as error:
            return ClusterInfo(False, self.context, self.server, error=str(error))
        except ClusterRejectedError as error:
            return ClusterInfo(False, self.context, self.server, error=str(error))
        simulated, fake = False, frozenset[str]()
        try:
            nodes = self._request("GET", "/api/v1/nodes", query={"limit": "500"}).get("items", [])
            simulated, fake = is_simulated(nodes), fake_node_names(nodes)
        except (ClusterRejectedError, ClusterUnavailableError):
            pass
        return ClusterInfo(True, self.context, self.server, version=version, simulated=simulated, fake_nodes=fake)

    # -- writes ---------------------------------------------------------------------------

    def apply(self, manifest: Manifest) -> dict[str, Any]:
        """Server-side apply (create or update), forcing our field manager's ownership."""
        return self._request(
            "PATCH",
            manifest_path(manifest),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=manifest,
            content_type="application/apply-patch+yaml",
        )

    def create_if_absent(self, manifest: Manifest) -> bool:
        """Create; an existing object is left untouched. Returns True if created.

        Used for the credentials Secret: re-applying it would rotate passwords.
        """
        meta = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], namespace=meta.get("namespace"))
        try:
            self._request("POST", path, query={"fieldManager": FIELD_MANAGER}, body=manifest)
            return True
        except ClusterRejectedError as error:
            if getattr(error, "status", None) == 409:
                return False
            raise

    def delete(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> bool:
        """Delete with background propagation; False if it was already gone."""
        try:
            self._request(
                "DELETE",
                resource_path(api_version, kind, namespace=namespace, name=name),
                body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
            )
            return True
        except ClusterRejectedError as error:
            if getattr(error, "status", None) == 404:
                return False
            raise

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        body: dict[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str = FIELD_MANAGER,
    ) -> dict[str, Any]:
        """JSON merge patch of a field or two (suspend's replicas: provisioning/operations/suspension.py)."""
        return self._request(
            "PATCH",
            resource_path(api_version, kind, namespace=namespace, name=name),
            query={"fieldManager": field_manager},
            body=body,
            content_type="application/merge-patch+json",
        )

    # -- reads ----------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return self._request("GET", resource_path(api_version, kind, namespace=namespace, name=name))
        except ClusterRejectedError as error:
            if getattr(error, "status", None) == 404:
                return None
            raise

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        return self._request("GET", resource_path(api_version, kind, namespace=namespace), query=query).get("items", [])

    def collection(self, api_version: str, kind: str, query: dict[str, str]) -> dict[str, Any]:
        """One LIST page as the API returns it (items, metadata.resourceVersion, continue): for watches."""
        return self._request("GET", resource_path(api_version, kind), query=query)

    def open_watch(
        self, api_version: str, kind: str, query: dict[str, str], *, read_timeout: float
    ) -> urllib3.BaseHTTPResponse:
        """A streaming watch response (one JSON event per line), all namespaces; the caller closes it."""
        self.requests.add("WATCH")
        path = f"{resource_path(api_version, kind)}?{urlencode(query | {'watch': '1'})}"
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        began = time.perf_counter()
        try:
            _, url, headers, _, _ = self.api.param_serialize(
                "GET", path, header_params=headers, auth_settings=["BearerToken"]
            )
            response = self.api.call_api("GET", url, header_params=headers, _request_timeout=(5, read_timeout))
        except (urllib3.exceptions.HTTPError, OSError) as error:
            metrics.kube_request("WATCH", None, time.perf_counter() - began)
            raise self._unreachable(error) from None
        metrics.kube_request("WATCH", response.status, time.perf_counter() - began)  # until the headers
        if response.status != 200:
            text = response.read().decode(errors="replace")[:300]
            error = ClusterRejectedError(f"The Kubernetes API refused a watch of {kind} ({response.status}): {text}")
            error.status = response.status  # type: ignore[attr-defined]
            raise error
        return response.response

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        import base64

        secret = self.get("v1", "Secret", name, namespace=namespace)
        if secret is None or key not in (secret.get("data") or {}):
            raise ClusterRejectedError("The store's credentials are not there yet; try again when it is ready.")
        return base64.b64decode(secret["data"][key]).decode()

    def managed_namespaces(self) -> dict[str, str]:
        """Every namespace this platform created: name -> phase. One LIST, whatever the count."""
        items = self.list("v1", "Namespace", label_selector=f"{LABEL_MANAGED_BY}={MANAGED_BY}")
        return {ns["metadata"]["name"]: ns.get("status", {}).get("phase", "") for ns in items}

    def observe(self, namespace: str, check: Check) -> Observation:
        """Read one object (a namespace: and its default ServiceAccount) and apply its readiness rule."""
        if check.kind == "Namespace":
            return observe_namespace(
                self.get("v1", "Namespace", namespace),
                lambda: self.get("v1", "ServiceAccount", "default", namespace=namespace) is not None,
            )
        return observe_object(
            check,
            self.get(API_VERSION_OF_KIND[check.kind], check.kind, check.name, namespace=namespace),
            lambda: self.list("v1", "Pod", namespace=namespace, label_selector=f"job-name={check.name}"),
        )

    def pod_nodes(self, namespace: str) -> set[str]:
        """The nodes the namespace's pods are bound to (unscheduled pods have none)."""
        return {n for p in self.list("v1", "Pod", namespace=namespace) if (n := (p.get("spec") or {}).get("nodeName"))}

    def store_logs(self, namespace: str, *, tail_lines: int) -> list[ContainerLog]:
        """Every container's last lines (one nodes LIST to know kwok's, one pods LIST)."""
        fake = fake_node_names(self.list("v1", "Node"))
        pods = self.list("v1", "Pod", namespace=namespace)
        return read_logs(client.CoreV1Api(self.api), namespace, pods, fake_nodes=fake, tail_lines=tail_lines)

    def warning_events(self, namespace: str) -> list[WarningEvent]:
        items = self.list("v1", "Event", namespace=namespace, field_selector="type=Warning")
        return [WarningEvent(**event_fields(item)) for item in items]

    def insight(self, namespace: str) -> StoreInsight:
        """What the store page shows beyond the DB: events, pods, quota use (3 requests)."""
        events = sorted(
            (
                event_fields(item) | {"type": item.get("type", "Normal")}
                for item in self.list("v1", "Event", namespace=namespace)
            ),
            key=lambda e: (e["type"] != "Warning", negated_time(e["last_seen"])),
        )
        pods = [pod_state(p) for p in self.list("v1", "Pod", namespace=namespace)]
        quota_obj = self.get("v1", "ResourceQuota", "store-quota", namespace=namespace)
        quota = []
        if quota_obj:
            hard = quota_obj.get("status", {}).get("hard", {})
            used = quota_obj.get("status", {}).get("used", {})
            quota = [{"resource": k, "used": used.get(k, "0"), "hard": v} for k, v in sorted(hard.items())]
        return StoreInsight(events=events[:50], pods=pods, quota=quota)

    # -- transport ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        self.requests.add(method)
        if query:
            path = f"{path}?{urlencode(query)}"
        headers = {"Accept": "application/json", "Content-Type": content_type}
        began = time.perf_counter()
        try:
            _, url, headers, body, _ = self.api.param_serialize(
                method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            metrics.kube_request(method, None, time.perf_counter() - began)
            raise self._unreachable(error) from None
        status = response.status
        metrics.kube_request(method, status, time.perf_counter() - began)
        payload: dict[str, Any] = json.loads(data) if data else {}
        if 200 <= status < 300:
            return payload
        message = payload.get("message") or (data.decode(errors="replace")[:300] if data else "")
        if status >= 500 or status == 429:
            raise ClusterUnavailableError(f"The Kubernetes API answered {status}: {message}")
        error = ClusterRejectedError(f"The Kubernetes API refused the request ({status}): {message}")
        error.status = status  # type: ignore[attr-defined]
        error.reason = payload.get("reason", "")  # type: ignore[attr-defined]
        raise error

    def _unreachable(self, error: BaseException) -> ClusterUnavailableError:
        return ClusterUnavailableError(f"The Kubernetes API at {self.server} is unreachable ({_short(error)}).")


def fake_node_names(nodes: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(
        n["metadata"]["name"] for n in nodes if KWOK_NODE_ANNOTATION in (n["metadata"].get("annotations") or {})
    )


def is_simulated(nodes: list[dict[str, Any]]) -> bool:
    """Whether store pods land only where no container runs (kwok's nodes).

    A cluster with kwok nodes plus real nodes that are tainted (the test harness's real
    node takes only pods that tolerate it) still runs ordinary store pods on kwok: no
    container answers a shopper there. A real cluster has no kwok node, so it is never
    called simulated, whatever its taints.
    """
    fake = [n for n in nodes if KWOK_NODE_ANNOTATION in (n["metadata"].get("annotations") or {})]
    if not fake:
        return False
    real = [n for n in nodes if n not in fake]
    return not any(
        not (n.get("spec") or {}).get("unschedulable")
        and not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in (n.get("spec") or {}).get("taints") or [])
        for n in real
    )


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) < 160 else text[:157] + "..."
