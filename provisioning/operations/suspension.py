"""Suspend and resume a store in the cluster: pure patch functions, then their side effects.

Suspending scales the store's StatefulSets and Deployments to zero replicas, suspends its
CronJobs (no cron Job may start against a stopped database) and deletes its Ingress, so
the ingress controller stops routing the host at all (an Ingress without rules is invalid,
and every controller handles a removed Ingress the same way). Nothing else is touched:
the namespace, the volumes (PVCs), the credentials Secret, Services, policies and quota
stay, so a resumed store has all its data.

Resuming restores exactly what the engine renders for the store: the replica counts and
CronJob `suspend` values of its manifests, and its Ingress re-applied, so a restore never
guesses. Every step is idempotent (a merge patch of one field, a delete of a missing
object, a server-side apply): a worker killed half-way repeats the whole step safely.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from provisioning.engines.base import Manifest
from provisioning.errors import ClusterRejectedError

# The field manager of the scale and suspend patches (the manifests' own is "store-platform").
FIELD_MANAGER = "store-platform-suspension"
SCALED_KINDS = ("StatefulSet", "Deployment")


@dataclass(frozen=True)
class Patch:
    """A JSON merge patch of one object."""

    api_version: str
    kind: str
    name: str
    namespace: str
    body: dict[str, Any]


class SuspendableCluster(Protocol):
    """What suspending and resuming need (KubeCluster, or the tests' FakeCluster)."""

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        body: dict[str, Any],
        *,
        namespace: str | None = None,
        field_manager: str = ...,
    ) -> dict[str, Any]: ...

    def apply(self, manifest: Manifest) -> dict[str, Any]: ...

    def delete(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> bool: ...

    def get(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> dict[str, Any] | None: ...


# -- pure -----------------------------------------------------------------------------------


def _patch(manifest: Manifest, spec: dict[str, Any]) -> Patch:
    meta = manifest["metadata"]
    return Patch(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace", ""), {"spec": spec})


def suspend_patches(manifests: Iterable[Manifest]) -> list[Patch]:
    """Replicas 0 for every StatefulSet and Deployment, `suspend: true` for every CronJob."""
    patches = []
    for manifest in manifests:
        if manifest["kind"] in SCALED_KINDS:
            patches.append(_patch(manifest, {"replicas": 0}))
        elif manifest["kind"] == "CronJob":
            patches.append(_patch(manifest, {"suspend": True}))
    return patches


def resume_patches(manifests: Iterable[Manifest]) -> list[Patch]:
    """The engine's own replica counts and CronJob `suspend` values (the API's defaults,
    1 and false, where a manifest leaves them out). Workloads in manifest order: the
    database before the application that needs it."""
    patches = []
    for manifest in manifests:
        spec = manifest.get("spec") or {}
        if manifest["kind"] in SCALED_KINDS:
            patches.append(_patch(manifest, {"replicas": spec.get("replicas", 1)}))
        elif manifest["kind"] == "CronJob":
            patches.append(_patch(manifest, {"suspend": bool(spec.get("suspend", False))}))
    return patches


def ingresses(manifests: Iterable[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == "Ingress"]


def workload_stopped(obj: dict[str, Any] | None) -> tuple[bool, str]:
    """Whether a scaled-down StatefulSet or Deployment has no pod left (pure), and if not,
    how many are still there. A missing object has none."""
    if obj is None:
        return True, ""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    name = f"{obj.get('kind', '')} {meta.get('name', '')}".strip()
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False, f"{name}: waiting for its controller to see the change."
    left = status.get("replicas") or 0
    if left:
        return False, f"{name}: {left} pod{'s' if left != 1 else ''} still stopping."
    return True, ""


# -- side effects -------------------------------------------------------------------------


def _send(cluster: SuspendableCluster, patch: Patch) -> None:
    """One merge patch; an object that is not there has nothing to scale (not an error)."""
    try:
        cluster.patch(
            patch.api_version,
            patch.kind,
            patch.name,
            patch.body,
            namespace=patch.namespace,
            field_manager=FIELD_MANAGER,
        )
    except ClusterRejectedError as error:
        if getattr(error, "status", None) != 404:
            raise


def scale_down(cluster: SuspendableCluster, manifests: list[Manifest]) -> None:
    """Take the store off the ingress first (shoppers get the controller's 404, not a 503
    from a store half stopped), then stop its workloads and cron."""
    for ingress in ingresses(manifests):
        meta = ingress["metadata"]
        cluster.delete(ingress["apiVersion"], "Ingress", meta["name"], namespace=meta.get("namespace"))
    for patch in suspend_patches(manifests):
        _send(cluster, patch)


def restore(cluster: SuspendableCluster, manifests: list[Manifest]) -> None:
    """Workloads back to the engine's replica counts, cron on, then the Ingress again."""
    for patch in resume_patches(manifests):
        _send(cluster, patch)
    for ingress in ingresses(manifests):
        cluster.apply(ingress)


def stopped(cluster: SuspendableCluster, manifests: list[Manifest]) -> tuple[bool, str]:
    """Whether every scaled workload has no pod left; else what is still stopping."""
    waiting = []
    for manifest in manifests:
        if manifest["kind"] not in SCALED_KINDS:
            continue
        meta = manifest["metadata"]
        done, why = workload_stopped(
            cluster.get(manifest["apiVersion"], manifest["kind"], meta["name"], namespace=meta.get("namespace"))
        )
        if not done:
            waiting.append(why)
    return not waiting, " ".join(waiting)
