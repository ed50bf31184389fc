"""pytest plugin: a session-wide real control plane for ``@pytest.mark.cluster`` tests.

Register with ``pytest_plugins = ["tests.harness.pytest_plugin"]`` (or ``-p``). The fixture
never compiles anything: building takes minutes, so a missing build is a skip with the
command to run (``make test`` runs it first; the lead's conftest turns skips into failures
under CI=true).

The control plane is started as soon as collection shows that a test needs it, in a
background thread, so it comes up while other servers (PostgreSQL) start and while the
tests that need neither run; the ``control_plane`` fixture waits for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes import config as kube_config

from tests.harness.binaries import find_binaries
from tests.harness.controlplane import ControlPlane
from tests.shared.background import Background
from tests.shared.report import record_component

CONTROL_PLANE_KEY = pytest.StashKey[Background[ControlPlane]]()


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker so ``-m cluster`` works without a pytest.ini entry."""
    config.addinivalue_line("markers", "cluster: needs the real Kubernetes control plane (tests/harness)")


def _start_control_plane() -> Background[ControlPlane] | None:
    bin_dir = find_binaries()
    if bin_dir is None:
        return None
    return Background("control plane", lambda: ControlPlane(bin_dir).start(), ControlPlane.stop)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the control plane now, in the background, if a collected test needs it."""
    if session.config.option.collectonly:
        return
    if any("control_plane" in getattr(item, "fixturenames", ()) for item in session.items):
        started = _start_control_plane()
        if started is not None:
            session.config.stash[CONTROL_PLANE_KEY] = started


def pytest_unconfigure(config: pytest.Config) -> None:
    started = config.stash.get(CONTROL_PLANE_KEY, None)
    if started is not None:
        started.close()


@pytest.fixture(scope="session")
def control_plane(pytestconfig: pytest.Config) -> ControlPlane:
    """A started ``ControlPlane`` shared by the whole session, stopped at the end."""
    started = pytestconfig.stash.get(CONTROL_PLANE_KEY, None)
    if started is None:
        started = _start_control_plane()
        if started is None:
            pytest.skip("control plane binaries not built: run tools/k8s/build.sh (make test does)")
        pytestconfig.stash[CONTROL_PLANE_KEY] = started
    cp = started.result()
    record_component(pytestconfig, "Kubernetes API server", f"{cp.version} (started in {cp.startup_seconds:.1f}s)")
    return cp


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    """Admin (system:masters) ``ApiClient`` for the session's control plane."""
    api = kube_config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield api
    finally:
        api.close()
