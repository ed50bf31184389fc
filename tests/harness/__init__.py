"""Test harness: a real Kubernetes control plane (etcd, kube-apiserver, controller-manager,
scheduler) plus kwok fake nodes, built by ``tools/k8s/build.sh``. See README.md here."""

from tests.harness.binaries import build_binaries, cache_key, find_binaries, read_versions
from tests.harness.controlplane import ControlPlane, ControlPlaneError, NodeSpec
from tests.harness.provisioner import PROVISIONER, FakeProvisioner

__all__ = [
    "PROVISIONER",
    "ControlPlane",
    "ControlPlaneError",
    "FakeProvisioner",
    "NodeSpec",
    "build_binaries",
    "cache_key",
    "find_binaries",
    "read_versions",
]
