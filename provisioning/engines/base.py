"""What every engine is: pure functions from a store to manifests and a readiness rule.

Engines never touch the cluster or the database; that keeps them trivial to test and
lets the reconciler treat WooCommerce and MedusaJS alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from provisioning.catalog.plans import EnginePlan, Plan
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
    # The store's plan (its volumes as the store has them); None: the default plan.
    plan: Plan | None = None
    # The versions the store runs (catalog/versions.py); empty: today's pins.
    versions: tuple[tuple[str, str], ...] = ()

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


@dataclass(frozen=True)
class ShopperRequest:
    """One request a shopper's browser or app makes, and what its answer must show.

    The shopper-path check (provisioning/health/) sends these to the store's host through
    the ingress controller; a store is Ready only when every one passes. Header values
    that are secrets (Medusa's publishable key) are named by their key in the store's
    Secret (`secret_headers`), read at check time, never stored or logged.
    """

    title: str
    path: str
    expect_status: int = 200
    # Each must occur in the body (plain substring; JSON is matched as text).
    expect_text: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    secret_headers: tuple[tuple[str, str], ...] = ()


class Engine(Protocol):
    name: str
    title: str
    available: bool
    # Keys in the store's Secret that the owner may reveal; None: the engine has none.
    admin_password_key: str
    publishable_key_key: str | None
    # Secret keys a clone copies from its source store: values only its copied database knows.
    clone_keys: tuple[str, ...]

    def generate_secrets(self, spec: StoreSpec) -> dict[str, str]: ...

    def secret(self, spec: StoreSpec, values: Mapping[str, str]) -> Manifest: ...

    def workloads(self, spec: StoreSpec, settings: Settings, *, plan: Plan | None = None) -> list[Manifest]: ...

    def checks(self, spec: StoreSpec) -> list[Check]: ...

    def admin_path(self) -> str: ...

    def shopper_path(self, spec: StoreSpec) -> list[ShopperRequest]: ...


def engine_plan(spec: StoreSpec, settings: Settings, plan: Plan | None = None, *, engine: str) -> EnginePlan:
    """What `plan` (else the spec's, else the default plan) gives `engine`'s stores."""
    chosen = plan or spec.plan or settings.catalog.get(settings.catalog.default)
    return chosen.for_engine(engine)


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
