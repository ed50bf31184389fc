"""The reconciler's cluster when it runs as a loop: readiness read from watches, not GETs.

`CachedCluster` is a `Cluster` (lifecycle/decisions.py): writes go to the API server as
before and their answers go into the cache; `observe`, `warning_events` and `pod_nodes`,
the reads every pass makes for every store in flight, come from informers (one LIST and
one WATCH per kind, whatever the number of stores). Whatever the cache cannot answer (not
synced yet, the watch broken by an API server restart, a key we deleted whose deletion has
not arrived) is read from the API exactly as without a cache, so an outage looks the same.

Everything else (probe, `get` of things a step decides to create, secrets, the drift
check's one LIST) goes straight to the API: those reads do not grow with the stores in
flight, and a decision to create must not rest on a cache that may lag.

A change of a watched workload's status wakes the reconciler (`on_change`), at most once
per `WAKE_SPACING_SECONDS`, so a store is seen ready when it becomes ready, not a pass later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from provisioning.engines.base import LABEL_COMPONENT, LABEL_MANAGED_BY, MANAGED_BY, Check, Manifest
from provisioning.kube import FIELD_MANAGER, ClusterInfo, KubeCluster, WarningEvent
from provisioning.readiness import Observation, event_fields, observe_namespace, observe_object
from provisioning.watch.informer import Informer, Stale

log = logging.getLogger(__name__)
T = TypeVar("T")

MANAGED = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
# The WP-cron CronJob's Jobs and pods (one per store every few minutes) decide no readiness:
# left out, they would make a ready store's steady state cost events, wake-ups and CPU.
NOT_CRON = f"{MANAGED},{LABEL_COMPONENT}!=cron"
# kind -> (apiVersion, label selector, field selector, wakes the reconciler on change)
WATCHED: dict[str, tuple[str, str, str, bool]] = {
    "Namespace": ("v1", MANAGED, "", True),
    # A new namespace's "default" ServiceAccount (created by its controller: no labels of ours).
    "ServiceAccount": ("v1", "", "metadata.name=default", True),
    "StatefulSet": ("apps/v1", MANAGED, "", True),
    "Deployment": ("apps/v1", MANAGED, "", True),
    "Job": ("batch/v1", NOT_CRON, "", True),
    "Ingress": ("networking.k8s.io/v1", MANAGED, "", True),
    "Pod": ("v1", NOT_CRON, "", False),
    # Events carry no labels: every Warning, kept for the namespaces that ask (an Event lives an hour).
    "Event": ("v1", "", "type=Warning", False),
}
WAKE_SPACING_SECONDS = 0.25
SYNC_TIMEOUT_SECONDS = 10.0


class CachedCluster:
    """A KubeCluster whose per-store reads come from watches; see the module docstring."""

    def __init__(self, kube: KubeCluster, *, on_change: Any = None) -> None:
        self.kube = kube
        self.context = kube.context
        self._wake = _Spaced(on_change, WAKE_SPACING_SECONDS) if on_change else None
        self.informers = {
            kind: Informer(
                kube,
                api_version,
                kind,
                label_selector=labels,
                field_selector=fields,
                on_change=self._changed if wakes else None,
            )
            for kind, (api_version, labels, fields, wakes) in WATCHED.items()
        }
        self.fallbacks = 0  # reads the cache could not answer (went to the API): tests and the bench

    def start(self, *, wait_seconds: float = SYNC_TIMEOUT_SECONDS) -> CachedCluster:
        """Start every informer and wait (bounded) for their first LIST; unsynced kinds read the API."""
        for informer in self.informers.values():
            informer.start()
        deadline = time.monotonic() + wait_seconds
        for informer in self.informers.values():
            informer.wait_synced(max(0.0, deadline - time.monotonic()))
        return self

    def stop(self) -> None:
        for informer in self.informers.values():
            informer.stop()

    def resync(self) -> None:
        """List every kind again (after the reconciler lost the cluster); the API meanwhile."""
        for informer in self.informers.values():
            informer.resync()

    def _changed(self, obj: dict[str, Any]) -> None:
        if self._wake is not None:
            self._wake.fire()

    # -- writes: to the API, answers into the cache -----------------------------------------

    def apply(self, manifest: Manifest) -> dict[str, Any]:
        result = self.kube.apply(manifest)
        self._written(result)
        return result

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
        result = self.kube.patch(api_version, kind, name, body, namespace=namespace, field_manager=field_manager)
        self._written(result)
        return result

    def delete(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> bool:
        informer = self.informers.get(kind)
        if informer is not None:  # before the request: an event racing its answer is then ignored
            informer.note_deleted(namespace or "", name)
        return self.kube.delete(api_version, kind, name, namespace=namespace)

    def create_if_absent(self, manifest: Manifest) -> bool:
        return self.kube.create_if_absent(manifest)

    def _written(self, obj: dict[str, Any]) -> None:
        informer = self.informers.get(obj.get("kind", ""))
        if informer is not None:
            informer.note_written(obj)

    # -- reads per store: from the cache ----------------------------------------------------

    def _or_api(self, cached: Callable[[], T], direct: Callable[[], T]) -> T:
        """The cache's answer, or the API's when the cache cannot give one (Stale)."""
        try:
            return cached()
        except Stale:
            self.fallbacks += 1
            return direct()

    def observe(self, namespace: str, check: Check) -> Observation:
        return self._or_api(lambda: self._observe_cached(namespace, check), lambda: self.kube.observe(namespace, check))

    def _observe_cached(self, namespace: str, check: Check) -> Observation:
        if check.kind == "Namespace":
            accounts = self.informers["ServiceAccount"]
            return observe_namespace(
                self.informers["Namespace"].get("", namespace),
                lambda: accounts.get(namespace, "default") is not None,
            )
        informer = self.informers.get(check.kind)
        if informer is None:
            raise Stale(check.kind)
        pods = self.informers["Pod"]
        return observe_object(
            check,
            informer.get(namespace, check.name),
            lambda: [p for p in pods.in_namespace(namespace) if _labels(p).get("job-name") == check.name],
        )

    def warning_events(self, namespace: str) -> list[WarningEvent]:
        return self._or_api(
            lambda: [WarningEvent(**event_fields(e)) for e in self.informers["Event"].in_namespace(namespace)],
            lambda: self.kube.warning_events(namespace),
        )

    def pod_nodes(self, namespace: str) -> set[str]:
        return self._or_api(
            lambda: {
                n for p in self.informers["Pod"].in_namespace(namespace) if (n := (p.get("spec") or {}).get("nodeName"))
            },
            lambda: self.kube.pod_nodes(namespace),
        )

    # -- everything else: the API, as without a cache ---------------------------------------

    def probe(self) -> ClusterInfo:
        return self.kube.probe()

    def get(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> dict[str, Any] | None:
        return self.kube.get(api_version, kind, name, namespace=namespace)

    def managed_namespaces(self) -> dict[str, str]:
        return self.kube.managed_namespaces()

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        return self.kube.read_secret_value(namespace, name, key)


class _Spaced:
    """Calls `action` soon after `fire()`, at most once per `spacing` seconds (a burst of
    events from 100 stores rolling out is a few passes, not hundreds)."""

    def __init__(self, action: Any, spacing: float) -> None:
        self._action, self._spacing = action, spacing
        self._lock = threading.Lock()
        self._last = 0.0
        self._pending = False

    def fire(self) -> None:
        with self._lock:
            if self._pending:
                return
            wait = self._last + self._spacing - time.monotonic()
            if wait > 0:
                self._pending = True
                timer = threading.Timer(wait, self._run)
                timer.daemon = True
                timer.start()
                return
            self._last = time.monotonic()
        self._action()

    def _run(self) -> None:
        with self._lock:
            self._pending = False
            self._last = time.monotonic()
        self._action()


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}
