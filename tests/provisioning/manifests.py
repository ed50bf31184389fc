"""Shared by the engines' unit tests (test_woocommerce.py, test_medusa.py,
test_medusa_access.py): a StoreSpec maker, the pure fixtures, readers for the rendered
manifests, and the Medusa image's contract. No tests here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from provisioning.engines.base import Engine, Manifest, StoreSpec
from provisioning.names import namespace_for
from provisioning.settings import Settings
from tests.conftest import make_settings

WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")
LONG_RUNNING = ("StatefulSet", "Deployment")
UIDS = {"postgres": 999, "redis": 999, "medusa-server": 1000, "medusa-worker": 1000, "store-setup": 1000}
COMPONENTS = {
    "postgres": "database",
    "redis": "cache",
    "medusa-server": "server",
    "medusa-worker": "worker",
    "store-setup": "setup",
}
CONTRACT_ENV = {
    "DATABASE_URL",
    "REDIS_URL",
    "MEDUSA_WORKER_MODE",
    "DISABLE_MEDUSA_ADMIN",
    "JWT_SECRET",
    "COOKIE_SECRET",
    "STORE_CORS",
    "ADMIN_CORS",
    "AUTH_CORS",
    "MEDUSA_DISABLE_TELEMETRY",
    "NODE_ENV",
    "PORT",
    "MEDUSA_INSECURE_COOKIES",
    "HOME",
    "XDG_CONFIG_HOME",
}
SETUP_ONLY_ENV = {"MEDUSA_ADMIN_EMAIL", "MEDUSA_ADMIN_PASSWORD", "MEDUSA_PUBLISHABLE_KEY", "MEDUSA_STORE_NAME"}


def make_spec(name: str = "my-shop", owner: str = "alice", *, engine: str = "medusa") -> StoreSpec:
    store_id = uuid.uuid4().hex
    return StoreSpec(
        id=store_id,
        name=name,
        namespace=namespace_for(name, store_id),
        owner=owner,
        engine=engine,
        admin_user=f"{name}-admin",
        admin_email=f"{name}-admin@{name}.invalid",
    )


def by_kind(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: Sequence[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in by_kind(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def workloads(manifests: Sequence[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in WORKLOAD_KINDS]


def workload(manifests: Sequence[Manifest], name: str) -> Manifest:
    (found,) = [w for w in workloads(manifests) if w["metadata"]["name"] == name]
    return found


def pod(manifests: Sequence[Manifest], name: str) -> dict[str, Any]:
    return workload(manifests, name)["spec"]["template"]["spec"]


def main_container(manifests: Sequence[Manifest], name: str) -> dict[str, Any]:
    (container,) = pod(manifests, name)["containers"]
    return container


def containers(manifests: Sequence[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for w in workloads(manifests):
        spec = w["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield w, container


def template_labels(w: Manifest) -> dict[str, str]:
    return w["spec"]["template"]["metadata"]["labels"]


def is_subset(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [e["name"] for e in container.get("env", [])]
    assert len(names) == len(set(names)), f"{container['name']} defines a variable twice"
    return {e["name"]: e for e in container.get("env", [])}


def secret_ref(env: dict[str, Any]) -> dict[str, str]:
    return env["valueFrom"]["secretKeyRef"]


def engine_fixtures(engine_type: Callable[[], Engine], name: str) -> tuple[Any, Any, Any, Any]:
    """The fixtures ``settings``, ``spec``, ``engine`` and ``manifests`` of an engine's tests:
    ``settings, spec, engine, manifests = engine_fixtures(MedusaEngine, "medusa")``.

    Manifests are pure: no database, so ``settings`` is not the database-parametrized
    conftest fixture.
    """

    @pytest.fixture
    def settings(tmp_path: Path) -> Settings:
        return make_settings(tmp_path)

    @pytest.fixture
    def spec() -> StoreSpec:
        return make_spec(engine=name)

    @pytest.fixture
    def engine() -> Engine:
        return engine_type()

    @pytest.fixture
    def manifests(engine: Engine, spec: StoreSpec, settings: Settings) -> list[Manifest]:
        return engine.workloads(spec, settings)

    return settings, spec, engine, manifests
