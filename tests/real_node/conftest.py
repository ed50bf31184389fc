"""Fixtures for tests on the real node (``tests/harness/realnode.py``).

The session's control plane gets one real node (containerd + runc + kubelet + kube-proxy),
the stand-in images imported into it, and the local-path provisioner. Opt-in on top:
``ingress_url`` (Traefik, the cluster's ingress controller, for the rest of the session)
and ``network_policies`` (kube-network-policies enforcing NetworkPolicies, for one test).
Nothing here builds for minutes: missing binaries or images are a skip naming the command
(``make real-node``), which CI=true turns into a failure. Under `make test` they may still
be building beside the tests: each fixture first waits for what it needs (shared/builds.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.harness.controlplane import ControlPlane
from tests.harness.localpath import LocalPathProvisioner, storage_class
from tests.harness.realnode import (
    NETPOL_BUILD_SCRIPT,
    TRAEFIK_BUILD_SCRIPT,
    RealNode,
    RealNodeUnavailable,
    ingress_unavailable_reason,
    netpol_unavailable_reason,
    tool_version,
    unavailable_reason,
)
from tests.shared import builds
from tests.shared.builds import wait_for_builds
from tests.shared.report import record_component
from tools.images.build import IMAGES, build_image, rootfs_cached

POSTGRES_IMAGE = IMAGES["postgres-standin"].ref


LAST_FIXTURES = frozenset({"ingress_url", "network_policies"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that need Traefik or the policy enforcer run last: on a cold machine those
    are the last builds beside the tests, and the node's other tests need neither."""
    late = [item for item in items if LAST_FIXTURES & set(getattr(item, "fixturenames", ()))]
    if late:
        items[:] = [item for item in items if item not in late] + late


@dataclass
class RealCluster:
    control_plane: ControlPlane
    node: RealNode
    provisioner: LocalPathProvisioner
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="session")
def real_cluster(control_plane: ControlPlane, pytestconfig: pytest.Config) -> Iterator[RealCluster]:
    wait_for_builds(*builds.REAL_NODE)
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    for name in ("postgres-standin",):
        if not rootfs_cached(name):
            pytest.skip(f"image {name} not built: run `python -m tools.images.build {name}` (make real-node)")
    node = RealNode(control_plane)
    try:
        node.start()
    except RealNodeUnavailable as exc:
        pytest.skip(str(exc))
    provisioner = None
    try:
        timings = dict(node.timings)
        t0 = time.monotonic()
        archive = build_image("postgres-standin", log=False)
        timings["postgres-standin archive"] = round(time.monotonic() - t0, 2)
        timings["postgres-standin import"] = node.import_image(archive)
        provisioner = LocalPathProvisioner(control_plane.kubeconfig, node.name, node.workdir / "volumes")
        provisioner.start()
        api = control_plane.api_client()
        try:
            client.StorageV1Api(api).create_storage_class(storage_class())
        except ApiException as exc:
            if exc.status != 409:
                raise
        finally:
            api.close()
        record_component(
            pytestconfig, "real node (kubelet, containerd, runc)", f"Ready in {node.timings['total']:.1f}s"
        )
        print(f"[realnode] timings: {timings}")
        yield RealCluster(control_plane, node, provisioner, timings)
    finally:
        if provisioner is not None:
            provisioner.stop()
        node.stop()


@pytest.fixture(scope="session")
def ingress_url(real_cluster: RealCluster, pytestconfig: pytest.Config) -> str:
    """Traefik serving IngressClass ``traefik`` on the real node's cluster; its base URL."""
    wait_for_builds(*builds.INGRESS)
    reason = ingress_unavailable_reason()
    if reason:
        pytest.skip(reason)
    url = real_cluster.node.start_ingress_controller()
    record_component(pytestconfig, "ingress controller (Traefik)", tool_version(TRAEFIK_BUILD_SCRIPT))
    return url


@pytest.fixture
def network_policies(real_cluster: RealCluster, pytestconfig: pytest.Config) -> Iterator[RealNode]:
    """kube-network-policies enforcing NetworkPolicies on the real node, for one test."""
    wait_for_builds(*builds.NETWORK_POLICIES)
    reason = netpol_unavailable_reason()
    if reason:
        pytest.skip(reason)
    node = real_cluster.node
    node.enforce_network_policies()
    record_component(
        pytestconfig, "NetworkPolicy enforcement (kube-network-policies)", tool_version(NETPOL_BUILD_SCRIPT)
    )
    try:
        yield node
    finally:
        node.stop_network_policies()
