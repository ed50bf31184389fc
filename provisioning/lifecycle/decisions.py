"""The shared vocabulary of a reconciler step: the cluster it needs, and what it decides.

Pure: no I/O. `StepResult` is applied to the store's row only if the row's status did not
change meanwhile (a user's delete during a step wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from provisioning.catalog import versions
from provisioning.engines.base import Check, Manifest, StoreSpec
from provisioning.kube import ClusterInfo, Observation, WarningEvent
from provisioning.models import Store
from provisioning.settings import Settings


class Cluster(Protocol):
    """What the reconciler needs from Kubernetes (KubeCluster, or a fake in unit tests)."""

    context: str

    def probe(self) -> ClusterInfo: ...

    def apply(self, manifest: Manifest) -> dict[str, Any]: ...

    def create_if_absent(self, manifest: Manifest) -> bool: ...

    def delete(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> bool: ...

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

    def get(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> dict[str, Any] | None: ...

    def observe(self, namespace: str, check: Check) -> Observation: ...

    def warning_events(self, namespace: str) -> list[WarningEvent]: ...

    def pod_nodes(self, namespace: str) -> set[str]: ...

    def managed_namespaces(self) -> dict[str, str]: ...

    def read_secret_value(self, namespace: str, name: str, key: str) -> str: ...


@dataclass
class StepResult:
    """What one step decided; applied to the row only if its status did not change."""

    changes: dict[str, Any]
    audit_action: str | None = None
    audit_detail: str = ""


def spec_for(store: Store, owner: str, settings: Settings | None = None) -> StoreSpec:
    """The store's facts; with `settings`, its plan too (else manifests use the default plan)."""
    plan = settings.catalog.for_store(store.plan, store.engine, store.volume_sizes) if settings else None
    return StoreSpec(
        id=store.id,
        name=store.name,
        namespace=store.namespace,
        owner=owner,
        engine=store.engine,
        admin_user=store.admin_user,
        admin_email=f"{store.admin_user}@{store.name}.invalid",
        plan=plan,
        versions=versions.as_pairs(store.versions),
    )


def conditions_from(
    checks: Sequence[Check], observed: dict[str, Observation], previous: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Conditions in check order, keeping the transition time of those that did not change."""
    before = {c["type"]: c for c in previous}
    result = []
    for check in checks:
        obs = observed.get(check.condition)
        status = "Unknown" if obs is None else ("True" if obs.ready else "False")
        old = before.get(check.condition)
        changed = old is None or old.get("status") != status
        result.append(
            {
                "type": check.condition,
                "title": check.title,
                "status": status,
                "reason": obs.reason if obs else "Pending",
                "message": obs.message if obs else "Not started yet.",
                "last_transition": now.isoformat() if changed else old.get("last_transition", now.isoformat()),
            }
        )
    return result


def minutes_or_seconds(seconds: int) -> str:
    if seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"
