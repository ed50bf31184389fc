"""Stores on the real node behind a real ingress controller, isolated by real packets.

Each store here is what the platform renders for a store namespace (provisioning/engines/
tenancy.py: Namespace with the restricted Pod Security level, LimitRange, ResourceQuota,
the NetworkPolicies of a web + database store, the Ingress) around the smallest pods that
play its parts, from the PostgreSQL stand-in image the node already has: ``web`` answers
HTTP (a few lines of Perl, which the image carries), ``database`` is PostgreSQL, ``setup``
is a Job. A whole engine (Medusa: test_medusa_store.py) takes many minutes; these take
seconds, so every claim below is checked with packets, not by reading objects.

- Traefik (tools/node/traefik, ``RealNode.start_ingress_controller``) routes the shopper
  path by Host header: the platform's own shopper-path check (provisioning/health/
  shopper.py) passes through it for each store and gets that store's page.
- kube-network-policies (tools/node/netpol, ``RealNode.enforce_network_policies``) enforces
  the store's policies: store A's web pod reaches its own database (the positive control)
  but not store B's; store A's setup Job reaches an "internet" address on 443 (TEST-NET-3,
  inside a network namespace this harness owns) but not a private address on the same
  listener, which a pod of a namespace without policies reaches (the other control).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client, utils

from provisioning.engines.base import LABEL_COMPONENT, ShopperRequest, StoreSpec, store_labels
from provisioning.engines.tenancy import store_ingress, tenancy_manifests
from provisioning.health.shopper import check_store
from provisioning.models import ShopperStatus
from provisioning.settings import Settings
from tests.harness.kube import create_namespace, delete_namespace, unique_name
from tests.harness.realnode import INGRESS_CLASS, PROBE_PORTS, RealNode, pod_on_real_node
from tests.real_node.conftest import POSTGRES_IMAGE, RealCluster
from tests.shared.waiting import wait_for

pytestmark = [pytest.mark.real_node, pytest.mark.cluster, pytest.mark.slow]

WEB_PORT = 8080
DB_PORT = 5432
PASSWORD = "test-only-password"  # a throwaway database in a throwaway namespace
RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 999,
    "runAsGroup": 999,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
RESOURCES = {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
# An HTTP server in the image's Perl (perl-base, IO::Socket::INET): the store's page.
WEB_SERVER = r"""
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalPort => $ENV{PORT}, Listen => 16, ReuseAddr => 1) or die "listen: $!";
$| = 1; print "listening on $ENV{PORT}\n";
while (my $c = $s->accept) {
    my $line = <$c> // ""; my $host = "";
    while (my $h = <$c>) { last if $h eq "\r\n"; $host = $1 if $h =~ /^Host:\s*(\S+)/i; }
    my $body = "<html><body>store $ENV{STORE} web (Host $host)</body></html>\n";
    print $c "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " . length($body)
        . "\r\nConnection: close\r\n\r\n$body";
    close $c;
}
"""
CONNECT_TIMEOUT = 3


def probe_command(ip: str, port: int) -> str:
    """Shell: print ``<ip>:<port> open`` if a TCP connect succeeds within CONNECT_TIMEOUT s, else ``closed``."""
    return (
        f"if timeout {CONNECT_TIMEOUT} bash -c 'exec 3<>/dev/tcp/{ip}/{port}' 2>/dev/null; "
        f"then echo '{ip}:{port} open'; else echo '{ip}:{port} closed'; fi"
    )


@dataclass
class SmallStore:
    spec: StoreSpec
    settings: Settings

    @property
    def ns(self) -> str:
        return self.spec.namespace

    @property
    def host(self) -> str:
        return self.spec.host(self.settings)


def store_settings() -> Settings:
    return Settings.from_env({}, ingress_class=INGRESS_CLASS)


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
        "terminationGracePeriodSeconds": 2,
        "automountServiceAccountToken": False,
        **spec,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": pod_on_real_node(body),
    }


def create_store(api: client.ApiClient, *, database: bool) -> SmallStore:
    """The platform's tenancy objects and Ingress for a web + database store, and its pods."""
    name = unique_name("sm")
    settings = store_settings()
    spec = StoreSpec(
        id=name, name=name, namespace=f"store-{name}", owner="alice", engine="woocommerce",
        admin_user="admin", admin_email="admin@example.com",
    )  # fmt: skip
    store = SmallStore(spec, settings)
    manifests = tenancy_manifests(spec, settings, web_port=WEB_PORT, db_port=DB_PORT)
    namespace, rest = manifests[0], manifests[1:]
    create_namespace(api, spec.namespace, labels=namespace["metadata"]["labels"])
    for manifest in rest:
        utils.create_from_dict(api, manifest, namespace=spec.namespace)
    core = client.CoreV1Api(api)
    # A ResourceQuota rejects pods until the quota controller has published status.hard.
    wait_for(
        lambda: core.read_namespaced_resource_quota("store-quota", spec.namespace).status.hard,
        timeout=60,
        what="the store's ResourceQuota status",
    )
    web = {
        "name": "web",
        "command": ["perl", "-e", WEB_SERVER],
        "env": [{"name": "STORE", "value": name}, {"name": "PORT", "value": str(WEB_PORT)}],
        "ports": [{"containerPort": WEB_PORT, "name": "http"}],
        "readinessProbe": {"tcpSocket": {"port": WEB_PORT}, "periodSeconds": 1},
    }
    core.create_namespaced_pod(spec.namespace, _pod("web", store_labels(spec, component="web"), web))
    core.create_namespaced_service(
        spec.namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "labels": store_labels(spec, component="web")},
            "spec": {"selector": {LABEL_COMPONENT: "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    utils.create_from_dict(api, store_ingress(spec, settings, service="web", port=80), namespace=spec.namespace)
    if database:
        db = {
            "name": "postgres",
            "env": [
                {"name": "POSTGRES_USER", "value": "store"},
                {"name": "POSTGRES_PASSWORD", "value": PASSWORD},
                {"name": "POSTGRES_DB", "value": "shop"},
            ],
            "ports": [{"containerPort": DB_PORT, "name": "pg"}],
            "readinessProbe": {
                "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "store", "-d", "shop"]},
                "periodSeconds": 1,
                "failureThreshold": 120,
            },
        }
        core.create_namespaced_pod(spec.namespace, _pod("database", store_labels(spec, component="database"), db))
    return store


def ready_pod_ip(core: client.CoreV1Api, ns: str, name: str, timeout: float = 120) -> str:
    def ready() -> str | None:
        pod: Any = core.read_namespaced_pod(name, ns)
        conds = {c.type: c.status for c in pod.status.conditions or []}
        return pod.status.pod_ip if conds.get("Ready") == "True" else None

    try:
        return wait_for(ready, timeout=timeout, interval=0.25, what=f"pod {ns}/{name} Ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe(core, ns, name)}") from None


def describe(core: client.CoreV1Api, ns: str, name: str) -> str:
    pod: Any = core.read_namespaced_pod(name, ns)
    events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items
    lines = [f"phase={pod.status.phase} conditions={[(c.type, c.status) for c in pod.status.conditions or []]}"]
    return "\n".join(lines + [f"{e.type} {e.reason}: {e.message}" for e in events])


def storefront(store: SmallStore) -> list[ShopperRequest]:
    return [ShopperRequest("storefront", "/", expect_text=(f"store {store.spec.name} web",))]


def shopper_check(url: str, store: SmallStore) -> Any:
    def no_secrets(key: str) -> str:
        raise KeyError(key)

    return check_store(url, store.host, storefront(store), secret=no_secrets, timeout=5)


@pytest.fixture
def api(real_cluster: RealCluster) -> Iterator[client.ApiClient]:
    api = real_cluster.control_plane.api_client()
    yield api
    api.close()


def test_the_shopper_path_goes_through_traefik_by_host_header(
    real_cluster: RealCluster, ingress_url: str, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
    stores: list[SmallStore] = []
    try:
        stores = [create_store(api, database=False), create_store(api, database=False)]
        for store in stores:
            ready_pod_ip(core, store.ns, "web")
        t0 = time.monotonic()
        for store in stores:
            # Traefik picks the new Ingress up from its watch within a moment.
            result = wait_for(
                lambda store=store: (r := shopper_check(ingress_url, store)).passed and r,
                timeout=60,
                interval=0.5,
                what=f"the shopper-path check of {store.host} through Traefik",
            )
            assert result.status == ShopperStatus.PASSED, result.message
        real_cluster.timings["shopper path through Traefik"] = round(time.monotonic() - t0, 2)
        # Each Host header reaches its own store only, and Traefik answers unknown hosts itself.
        a, b = stores
        crossed = check_store(
            ingress_url,
            a.host,
            [ShopperRequest("storefront", "/", expect_text=(f"store {b.spec.name} web",))],
            secret=lambda key: key,
            timeout=5,
        )
        assert crossed.status == ShopperStatus.FAILED and f"store {b.spec.name}" in crossed.message
        unknown = check_store(ingress_url, "nobody.stores.localhost", storefront(a), secret=lambda key: key, timeout=5)
        assert unknown.status == ShopperStatus.FAILED and "404" in unknown.message, unknown.message
        # The requests went through Traefik: its access log names both routers (namespace-ingress).
        log = real_cluster.node.log_path("traefik").read_text()
        for store in stores:
            assert f"{store.ns}-store-" in log, log[-2000:]
    finally:
        for store in stores:
            delete_namespace(api, store.ns, timeout=120)


def _exec(real_cluster: RealCluster, ns: str, pod: str, script: str) -> str:
    out = real_cluster.control_plane.kubectl("exec", "-n", ns, pod, "--", "bash", "-c", script, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_network_policies_isolate_stores_with_real_packets(
    real_cluster: RealCluster, network_policies: RealNode, api: client.ApiClient
) -> None:
    node = network_policies
    probe = node.start_probe_network()
    core = client.CoreV1Api(api)
    port = PROBE_PORTS[1]  # 443: the port the setup Job's internet policy allows
    stores: list[SmallStore] = []
    open_ns = ""
    try:
        a, b = create_store(api, database=True), create_store(api, database=True)
        stores = [a, b]
        # A namespace without NetworkPolicies: the control for "a private address".
        open_ns = create_namespace(api, unique_name("open"))
        sleeper = {"name": "probe", "command": ["sleep", "3600"]}
        core.create_namespaced_pod(open_ns, _pod("probe", {"app": "probe"}, sleeper))
        ips = {
            "a-web": ready_pod_ip(core, a.ns, "web"),
            "a-db": ready_pod_ip(core, a.ns, "database"),
            "b-db": ready_pod_ip(core, b.ns, "database"),
        }
        open_ip = ready_pod_ip(core, open_ns, "probe")
        # The enforcer lists the selected pods' IPs before their packets go to its queue.
        for what, ip in ips.items():
            wait_for(lambda ip=ip: node.policy_applies_to(ip), timeout=30, what=f"{what} ({ip}) in the enforcer's set")
        assert not node.policy_applies_to(open_ip)

        # Positive control: web -> its own database is an allowed flow (retried: the
        # enforcer may still be syncing the pod's labels).
        own = wait_for(
            lambda: (
                (out := _exec(real_cluster, a.ns, "web", probe_command(ips["a-db"], DB_PORT))).endswith(" open") and out
            ),
            timeout=60,
            interval=1,
            what="store A's web pod connecting to its own database",
        )
        assert own == f"{ips['a-db']}:{DB_PORT} open"
        # Store A's web pod cannot open a connection to store B's database.
        for _ in range(2):
            crossed = _exec(real_cluster, a.ns, "web", probe_command(ips["b-db"], DB_PORT))
            assert crossed == f"{ips['b-db']}:{DB_PORT} closed", crossed

        # Store A's setup Job: waits for the test's go (its IP must be in the enforcer's set
        # first), then tries an internet address and a private one on the same port.
        script = (
            "for i in $(seq 1 600); do [ -e /tmp/go ] && break; sleep 0.1; done; "
            f"{probe_command(probe['public'], port)}; {probe_command(probe['private'], port)}"
        )
        setup_labels = store_labels(a.spec, component="setup")
        job_pod = _pod("unused", setup_labels, {"name": "setup", "command": ["bash", "-c", script]})["spec"]
        job_pod["restartPolicy"] = "Never"
        client.BatchV1Api(api).create_namespaced_job(
            a.ns,
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "store-setup", "labels": setup_labels},
                "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": setup_labels}, "spec": job_pod}},
            },
        )

        def setup_pod() -> Any:
            pods = core.list_namespaced_pod(a.ns, label_selector=f"{LABEL_COMPONENT}=setup").items
            return next((p for p in pods if p.status.phase == "Running" and p.status.pod_ip), None)

        pod = wait_for(setup_pod, timeout=120, interval=0.25, what="the setup Job's pod running")
        setup_ip = pod.status.pod_ip
        wait_for(lambda: node.policy_applies_to(setup_ip), timeout=30, what="the setup pod in the enforcer's set")
        _exec(real_cluster, a.ns, pod.metadata.name, "touch /tmp/go")

        def finished() -> str | None:
            phase = core.read_namespaced_pod(pod.metadata.name, a.ns).status.phase
            return phase if phase in ("Succeeded", "Failed") else None

        assert wait_for(finished, timeout=60, what="the setup pod finished") == "Succeeded"
        lines = core.read_namespaced_pod_log(pod.metadata.name, a.ns).split("\n")
        assert f"{probe['public']}:{port} open" in lines, lines
        assert f"{probe['private']}:{port} closed" in lines, lines

        # The control: a pod no policy selects reaches the same private listener.
        control = _exec(real_cluster, open_ns, "probe", probe_command(probe["private"], port))
        assert control == f"{probe['private']}:{port} open"

        # What the listener saw: the control and the setup pod's allowed connection, nothing
        # from the setup pod at the private address.
        seen = node.probe_connections()
        assert (f"{probe['private']}:{port}", open_ip) in seen, seen
        assert (f"{probe['public']}:{port}", setup_ip) in seen, seen
        assert (f"{probe['private']}:{port}", setup_ip) not in seen, seen
    finally:
        for store in stores:
            delete_namespace(api, store.ns, timeout=120)
        if open_ns:
            delete_namespace(api, open_ns, timeout=120)
