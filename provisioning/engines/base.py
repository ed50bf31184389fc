"""What every engine is: pure functions from a store to manifests and a readiness rule.

Engines never touch the cluster or the database; that keeps them trivial to test and
lets the reconciler treat WooCommerce and MedusaJS alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from provisioning.settings import Settings

Manifest = dict[str, Any]

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "store-platform"
LABEL_STORE_ID = "store-platform.io/store-id"
LABEL_STORE_NAME = "store-platform.io/store-name"
LABEL_OWNER = "store-platform.io/owner"
LABEL_ENGINE = "store-platform.io/engine"
LABEL_COMPONENT = "app.kubernetes.io/component"
SECRET_NAME = "store-credentials"


@dataclass(frozen=True)
class StoreSpec:
    """The facts about a store that manifests depend on."""

    id: str
    name: str
    namespace: str
    owner: str
    engine: str
    admin_user: str
    admin_email: str

    def host(self, settings: Settings) -> str:
        return f"{self.name}.{settings.domain}"

    def url(self, settings: Settings) -> str:
        return settings.store_url(self.name)


@dataclass(frozen=True)
class Check:
    """One readiness step: condition `type` is true when object `kind`/`name` is ready."""

    condition: str
    kind: str
    name: str
    title: str


class Engine(Protocol):
    name: str
    title: str
    available: bool

    def generate_secrets(self, spec: StoreSpec) -> dict[str, str]: ...

    def secret(self, spec: StoreSpec, values: Mapping[str, str]) -> Manifest: ...

    def workloads(self, spec: StoreSpec, settings: Settings) -> list[Manifest]: ...

    def checks(self, spec: StoreSpec) -> list[Check]: ...

    def admin_path(self) -> str: ...


def store_labels(spec: StoreSpec, *, component: str | None = None) -> dict[str, str]:
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_STORE_ID: spec.id,
        LABEL_STORE_NAME: spec.name,
        LABEL_ENGINE: spec.engine,
    }
    if component:
        labels[LABEL_COMPONENT] = component
    return labels


def metadata(spec: StoreSpec, name: str, *, component: str | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": spec.namespace, "labels": store_labels(spec, component=component)}
