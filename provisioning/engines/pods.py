"""Pod-spec building blocks every engine shares: Pod Security `restricted`, resources,
placement, storage and Secret references.

One definition means both engines pass admission for the same reasons, and a change to
the security baseline (say, a new PSS rule) is made once.
"""

from __future__ import annotations

from typing import Any

from provisioning.engines.base import SECRET_NAME
from provisioning.settings import Settings


def secret_env(env_name: str, key: str) -> dict[str, Any]:
    """An env var read from the store's credentials Secret (never a literal value)."""
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": key}}}


def resources(cpu_req: str, mem_req: str, cpu_lim: str, mem_lim: str) -> dict[str, Any]:
    """Explicit requests and limits: the store's ResourceQuota rejects pods without them."""
    return {"requests": {"cpu": cpu_req, "memory": mem_req}, "limits": {"cpu": cpu_lim, "memory": mem_lim}}


def container_security(*, read_only_root: bool = False) -> dict[str, Any]:
    """What Pod Security `restricted` demands of every container."""
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if read_only_root:
        context["readOnlyRootFilesystem"] = True
    return context


def pod_security(uid: int, *, unprivileged_ports: bool = False) -> dict[str, Any]:
    """Run as the image's own unprivileged user; volumes get its group.

    `fsGroupChangePolicy: OnRootMismatch`: storage that applies fsGroup re-chowns a volume
    only when its root does not already match, not the ten thousand WordPress files on
    every mount (which delays every restart by minutes on slow disks).
    """
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if unprivileged_ports:
        # Namespaced and allowed by `restricted` (a kubelet "safe" sysctl): bind :80 as non-root.
        context["sysctls"] = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    return context


def placement(settings: Settings) -> dict[str, Any]:
    """Where store pods may run: STORE_NODE_SELECTOR, and STORE_TOLERATIONS for tainted nodes."""
    where: dict[str, Any] = {}
    if settings.node_selector:
        where["nodeSelector"] = settings.node_selector
    if settings.tolerations:
        where["tolerations"] = settings.tolerations
    return where


def storage(settings: Settings, *, size: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size or settings.volume_size}},
    }
    if settings.storage_class:
        spec["storageClassName"] = settings.storage_class
    return spec


def with_replicas_together(manifest: dict[str, Any], selector: dict[str, str], replicas: int) -> dict[str, Any]:
    """More than one replica of a pod mounting a ReadWriteOnce volume (a plan's web
    replicas): keep them on one node, where they may share it. One replica: unchanged."""
    if replicas > 1:
        pod = manifest["spec"]["template"]["spec"]
        term = {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": "kubernetes.io/hostname"}
        pod.setdefault("affinity", {})["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    return manifest
