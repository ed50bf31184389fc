"""A Medusa store end to end in Kubernetes, on the real node (issue 13, item 4).

The real reconciler (StorePlatform on the session's control plane) provisions a Medusa store
whose pods run for real on ``real-node-0``: PostgreSQL and Redis from the test stand-in
images, the Medusa server, worker and setup Job from the store image built from
images/medusa/'s contents (tools/images). Settings point the store at the node: the images
(imported, never pulled), a node selector, a toleration of the node's taint, and the
local-path storage class. Service names (``postgres``, ``redis``) resolve through the
node's CoreDNS. The reconciler's shopper-path check goes through a Host-routing ingress
stand-in (tests/real_node/ingress.py) to the store's Service, so "ready" means a shopper
could really buy.

Then, as a shopper, the test orders the seeded product through the store's Service
(its ClusterIP, reached over the node's bridge through kube-proxy) with the steps of the
store-software test, the admin finds the order, and deleting the store removes its
namespace, its volumes and their data on disk.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from provisioning.engines.base import LABEL_COMPONENT
from provisioning.engines.medusa import sign_in_email
from provisioning.models import ShopperStatus, Store, StoreStatus
from tests.harness.localpath import PATH_ANNOTATION, STORAGE_CLASS
from tests.harness.realnode import CLUSTER_DNS_IP, NODE_LABELS, TAINT
from tests.real_node.conftest import POSTGRES_IMAGE, RealCluster
from tests.real_node.ingress import HostRouter
from tests.shared.platform import StorePlatform
from tests.shared.portal import unique
from tests.shared.waiting import wait_for
from tests.store_software.medusa import http
from tests.store_software.test_store_order import (
    PRODUCT_PRICE_EUR,
    SHIPPING_PRICE_EUR,
    admin_token,
    ok,
    place_order,
)
from tools.images.build import IMAGES, build_image, rootfs_cached
from tools.images.medusa_store import medusa_server

pytestmark = [pytest.mark.real_node, pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(2700)]

MEDUSA_IMAGE = IMAGES["medusa-store"].ref
REDIS_IMAGE = IMAGES["redis-standin"].ref
READY_TIMEOUT = 1500  # five real pods on a shared 2-core machine; setup alone is minutes
COMPONENTS = {"database", "cache", "server", "worker", "setup"}


@pytest.fixture(scope="module")
def medusa_images(real_cluster: RealCluster) -> dict[str, float]:
    """The store image and the Redis stand-in, imported into the node (PostgreSQL already is)."""
    for name in ("medusa-store", "redis-standin"):
        if not rootfs_cached(name):
            pytest.skip(f"image {name} not built: run `python -m tools.images.build {name}` (make test-images)")
    if medusa_server() is None:
        pytest.skip("the Medusa server is not built: run tools/medusa/build.sh (make store-software)")
    timings: dict[str, float] = {}
    for name in ("medusa-store", "redis-standin"):
        t0 = time.monotonic()
        archive = build_image(name, log=False)
        timings[f"{name} archive"] = round(time.monotonic() - t0, 2)
        timings[f"{name} import"] = real_cluster.node.import_image(archive)
    return timings


@pytest.fixture
def router(real_cluster: RealCluster) -> Iterator[HostRouter]:
    host_router = HostRouter(real_cluster.control_plane.kubeconfig).start()
    yield host_router
    host_router.stop()


def describe(core: client.CoreV1Api, ns: str) -> str:
    """Pods, their containers' states, the namespace's events and failing containers' logs."""
    lines: list[str] = []
    try:
        for pod in core.list_namespaced_pod(ns).items:
            lines.append(f"pod {pod.metadata.name} node={pod.spec.node_name} phase={pod.status.phase}")
            statuses = [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]
            for cs in statuses:
                state = cs.state.to_dict() if cs.state else {}
                lines.append(f"  {cs.name} ready={cs.ready} restarts={cs.restart_count} {state}")
                if not cs.ready:
                    try:
                        log = core.read_namespaced_pod_log(pod.metadata.name, ns, container=cs.name, tail_lines=25)
                        lines += [f"    | {line}" for line in log.splitlines()]
                    except client.ApiException as error:
                        lines.append(f"    (no log: {error.reason})")
        for event in core.list_namespaced_event(ns).items[-40:]:
            lines.append(f"event {event.type} {event.involved_object.kind}/{event.involved_object.name}: "
                         f"{event.reason}: {event.message}")  # fmt: skip
    except client.ApiException as error:
        lines.append(f"(cannot describe {ns}: {error.reason})")
    return "\n".join(lines)


def medusa_platform(real_cluster: RealCluster, router: HostRouter, tmp_path: Path) -> StorePlatform:
    """The reconciler's settings for stores on the real node: images imported (never
    pulled), the node's label and taint, local-path volumes, the ingress stand-in for the
    shopper-path check."""
    return StorePlatform(
        tmp_path,
        None,
        real_cluster.control_plane.kubeconfig,
        medusa_image=MEDUSA_IMAGE,
        postgres_image=POSTGRES_IMAGE,
        redis_image=REDIS_IMAGE,
        store_node_selector=",".join(f"{k}={v}" for k, v in NODE_LABELS.items()),
        store_tolerations=f"{TAINT['key']}={TAINT['value']}:{TAINT['effect']}",
        storage_class=STORAGE_CLASS,
        volume_size="1Gi",
        shopper_check_url=router.url,
        shopper_check_interval_seconds=5,
        provisioning_timeout_seconds=READY_TIMEOUT,
        reconcile_interval_seconds=1.0,
    )


def wait_ready(platform: StorePlatform, core: client.CoreV1Api, store: Store) -> Store:
    """READY with every condition true, the shopper path included; else the pods' story."""
    try:
        final = platform.wait_status(store.id, StoreStatus.READY, StoreStatus.FAILED, timeout=READY_TIMEOUT)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{describe(core, store.namespace)}") from None
    assert final.status == StoreStatus.READY, f"{final.status}: {final.message}\n{describe(core, store.namespace)}"
    conditions = {c["type"]: (c["status"], c.get("reason")) for c in final.conditions}
    assert all(status == "True" for status, _ in conditions.values()), conditions
    # The shopper-path check really ran: through the ingress stand-in to the Service.
    assert final.shopper_status == ShopperStatus.PASSED, final.shopper_message
    return final


def admin_order_emails(platform: StorePlatform, store: Store, url: str) -> dict[str, str]:
    """Order id -> e-mail, as the store's admin lists them."""
    password = platform.stores.reveal_admin_password(platform.alice, store.id)
    token = admin_token(url, sign_in_email(name=store.name, admin_user=store.admin_user), password)
    listed = ok(
        http("GET", f"{url}/admin/orders?fields=id,email,total&limit=50", headers={"Authorization": f"Bearer {token}"})
    )
    return {o["id"]: o["email"] for o in listed["orders"]}


def setup_pods(core: client.CoreV1Api, ns: str) -> list[Any]:
    return core.list_namespaced_pod(ns, label_selector=f"{LABEL_COMPONENT}=setup").items


def pod_log(core: client.CoreV1Api, ns: str, name: str) -> str:
    try:
        return str(core.read_namespaced_pod_log(name, ns))
    except client.ApiException:  # not started yet, or already gone
        return ""


def test_medusa_store_runs_takes_an_order_and_leaves_nothing_on_disk(
    real_cluster: RealCluster, medusa_images: dict[str, float], router: HostRouter, tmp_path: Path
) -> None:
    timings = dict(medusa_images)
    node = real_cluster.node
    platform = medusa_platform(real_cluster, router, tmp_path)
    api = real_cluster.control_plane.api_client()
    core = client.CoreV1Api(api)
    cp = real_cluster.control_plane
    try:
        store: Store = platform.stores.create_store(platform.alice, unique("med"), engine="medusa")
        platform.created.append(store)
        ns = store.namespace
        t0 = time.monotonic()
        with platform.reconciling(f"real-{store.name}"):
            wait_ready(platform, core, store)
            timings["store ready"] = round(time.monotonic() - t0, 1)
            assert router.routed.get(f"{store.name}.{platform.settings.domain}", 0) >= 2

            # Every pod ran on the real node, and the setup Job did its three steps.
            pods = core.list_namespaced_pod(ns).items
            assert {p.metadata.labels[LABEL_COMPONENT] for p in pods} == COMPONENTS
            assert {p.spec.node_name for p in pods} == {node.name}
            setup = next(p for p in pods if p.metadata.labels[LABEL_COMPONENT] == "setup")
            assert setup.status.phase == "Succeeded"
            setup_log = core.read_namespaced_pod_log(setup.metadata.name, ns)
            for step in ("database migrations", "seed", "admin user"):
                assert f"store-setup: {step} done" in setup_log, setup_log[-3000:]
            assert "store-setup: store is set up" in setup_log
            # The owner reads the same lines through the portal's service (the kubelet's logs).
            logs = {e.label: e for e in platform.stores.store_logs(platform.alice, store.id)}
            assert "store-setup: store is set up" in logs[f"{setup.metadata.name} / store-setup"].text
            assert not [e for e in logs.values() if e.unavailable], logs

            # Service names resolve in the pods through CoreDNS (the kube-dns Service).
            svc: Any = core.read_namespaced_service("medusa", ns)
            cluster_ip = svc.spec.cluster_ip
            server_pod = next(p for p in pods if p.metadata.labels[LABEL_COMPONENT] == "server")
            assert (
                f"nameserver {CLUSTER_DNS_IP}"
                in cp.kubectl(
                    "exec", "-n", ns, server_pod.metadata.name, "-c", "medusa", "--", "cat", "/etc/resolv.conf"
                ).stdout
            )
            looked_up = cp.kubectl(
                "exec", "-n", ns, server_pod.metadata.name, "-c", "medusa", "--", "getent", "hosts", "medusa",
                check=False,
            )  # fmt: skip
            assert looked_up.returncode == 0 and looked_up.stdout.split()[0] == cluster_ip, looked_up

            # A shopper orders through the store's Service; the admin finds the order.
            key = platform.stores.reveal_publishable_key(platform.alice, store.id)
            url = f"http://{cluster_ip}:9000"
            t1 = time.monotonic()
            email = f"shopper-{secrets.token_hex(4)}@example.com"
            order = place_order(url, key, email)
            timings["order placed"] = round(time.monotonic() - t1, 1)
            assert order["email"] == email
            assert order["total"] == PRODUCT_PRICE_EUR + SHIPPING_PRICE_EUR
            assert admin_order_emails(platform, store, url)[order["id"]] == email

            # The data is on the node's disk, in the volumes' directories.
            pvcs = core.list_namespaced_persistent_volume_claim(ns).items
            assert {p.metadata.name for p in pvcs} == {"data-postgres-0", "medusa-static"}
            host_dirs = {}
            for pvc in pvcs:
                pv: Any = core.read_persistent_volume(pvc.spec.volume_name)
                host_dirs[pv.metadata.name] = Path(pv.metadata.annotations[PATH_ANNOTATION])
            pg_dir = next(d for d in host_dirs.values() if "data-postgres-0" in d.name)
            assert (pg_dir / "pgdata" / "PG_VERSION").read_text().strip() == "15"
            assert (pg_dir / "pgdata").stat().st_uid == 999

            # Deleting the store removes its namespace, its volumes and their data.
            t2 = time.monotonic()
            platform.stores.delete_store(platform.alice, store.id)
            deleted = platform.wait_status(store.id, StoreStatus.DELETED, timeout=300)
            assert deleted.deleted_at is not None
            platform.volumes_released(set(host_dirs), timeout=120)
            timings["store deleted"] = round(time.monotonic() - t2, 1)
        assert platform.kube is not None and platform.kube.get("v1", "Namespace", ns) is None
        for path in host_dirs.values():
            assert not path.exists(), f"{path} is still on disk"
        print(f"[realnode] medusa store timings: {timings}")
    finally:
        platform.cleanup()
        api.close()


def test_a_store_recovers_from_a_setup_pod_killed_mid_setup_and_from_a_node_restart(
    real_cluster: RealCluster, medusa_images: dict[str, float], router: HostRouter, tmp_path: Path
) -> None:
    """The reliability scenarios that are about pods: the setup pod is deleted (grace 0) once
    its migrations are done, so the Job's next pod runs the script again over a half set-up
    store; later the node restarts the way a reboot does (containerd and the kubelet
    stopped, every container killed, both started again) and the store comes back with
    its data: the order placed before the restart is still there."""
    timings: dict[str, float] = {}
    platform = medusa_platform(real_cluster, router, tmp_path)
    api = real_cluster.control_plane.api_client()
    core = client.CoreV1Api(api)
    try:
        store: Store = platform.stores.create_store(platform.alice, unique("rel"), engine="medusa")
        platform.created.append(store)
        ns = store.namespace
        with platform.reconciling(f"real-{store.name}"):
            # 1. Kill the setup pod half-way: migrations done, seed not finished.
            def migrated_pod() -> str | None:
                for pod in setup_pods(core, ns):
                    log = pod_log(core, ns, pod.metadata.name)
                    if "store-setup: database migrations done" in log and "store is set up" not in log:
                        return str(pod.metadata.name)
                return None

            killed = wait_for(migrated_pod, timeout=READY_TIMEOUT, interval=1.0, what="a setup pod past its migrations")
            core.delete_namespaced_pod(killed, ns, grace_period_seconds=0)
            t0 = time.monotonic()
            wait_ready(platform, core, store)
            timings["ready after the setup pod was killed"] = round(time.monotonic() - t0, 1)
            job: Any = client.BatchV1Api(api).read_namespaced_job("store-setup", ns)
            assert job.status.succeeded == 1
            finished = [p for p in setup_pods(core, ns) if p.status.phase == "Succeeded"]
            assert [p.metadata.name for p in finished] != [killed] and len(finished) == 1
            rerun = pod_log(core, ns, finished[0].metadata.name)
            # The second pod ran every step again over what the first left: idempotent.
            for step in ("database migrations", "seed", "admin user"):
                assert f"store-setup: {step} done" in rerun, rerun[-3000:]

            # 2. An order before the node restarts.
            svc: Any = core.read_namespaced_service("medusa", ns)
            url = f"http://{svc.spec.cluster_ip}:9000"
            key = platform.stores.reveal_publishable_key(platform.alice, store.id)
            email = f"before-restart-{secrets.token_hex(4)}@example.com"
            order = place_order(url, key, email)
            before = {p.metadata.uid: p.status.container_statuses[0].container_id for p in _running(core, ns)}

            # 3. The node restarts; every container was killed, none of the API objects.
            timings["node restart"] = real_cluster.node.restart(kill_containers=True)
            t1 = time.monotonic()

            def back() -> bool:
                pods = _running(core, ns)
                ready = all(cs.ready for p in pods for cs in p.status.container_statuses or [])
                restarted = all(p.status.container_statuses[0].container_id != before.get(p.metadata.uid) for p in pods)
                return bool(pods) and len(pods) == len(before) and ready and restarted

            wait_for(back, timeout=600, interval=2.0, what="the store's pods running again with new containers")
            timings["pods back after restart"] = round(time.monotonic() - t1, 1)
            # The data survived on the node's disk: the order is still there.
            orders = wait_for(
                lambda: _orders_or_none(platform, store, url), timeout=300, interval=2.0, what="the admin API back"
            )
            assert orders.get(order["id"]) == email
            # And the reconciler's next shopper checks pass again through the ingress.
            host = f"{store.name}.{platform.settings.domain}"
            checks_before = router.routed.get(host, 0)
            wait_for(
                lambda: (
                    router.routed.get(host, 0) >= checks_before + 2
                    and (s := platform.store(store.id)).status == StoreStatus.READY
                    and s.shopper_status == ShopperStatus.PASSED
                ),
                timeout=300,
                interval=2.0,
                what="a passing shopper check after the restart",
            )
            print(f"[realnode] medusa reliability timings: {timings}")
    finally:
        platform.cleanup()
        api.close()


def _running(core: client.CoreV1Api, ns: str) -> list[Any]:
    """The store's long-running pods (not the finished setup pod)."""
    return [p for p in core.list_namespaced_pod(ns).items if p.metadata.labels.get(LABEL_COMPONENT) != "setup"]


def _orders_or_none(platform: StorePlatform, store: Store, url: str) -> dict[str, str] | None:
    try:
        return admin_order_emails(platform, store, url)
    except (AssertionError, OSError):  # the server is still starting
        return None
