"""pytest plugin: a session-wide real control plane for ``@pytest.mark.cluster`` tests.

Register with ``pytest_plugins = ["tests.harness.pytest_plugin"]`` (or ``-p``). The fixture
never compiles anything: building takes minutes, so a missing build is a skip with the
command to run (``make test`` runs it first; the lead's conftest turns skips into failures
under CI=true).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes import config as kube_config

from tests.harness.binaries import find_binaries
from tests.harness.controlplane import ControlPlane


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker so ``-m cluster`` works without a pytest.ini entry."""
    config.addinivalue_line("markers", "cluster: needs the real Kubernetes control plane (tests/harness)")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """A started ``ControlPlane`` shared by the whole session, stopped at the end."""
    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip("control plane binaries not built: run tools/k8s/build.sh (make test does)")
    cp = ControlPlane(bin_dir)
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """Admin (system:masters) ``ApiClient`` for the session's control plane."""
    api = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield api
    finally:
        api.close()
