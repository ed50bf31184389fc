"""Store logs: which containers can have one, what a failed read says, and the service's
checks (owner or admin, audited, bounded). The kubelet path itself runs on the real node
(tests/real_node/test_medusa_store.py) and on kwok (tests/cluster/test_store_logs.py)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.errors import InvalidStateError, NotFoundError, ValidationError
from provisioning.models import StoreStatus
from provisioning.operations.store_logs import (
    NOT_SCHEDULED,
    SIMULATED,
    ContainerLog,
    containers_of,
    read_logs,
    unavailable_reason,
)
from provisioning.service import StoreService
from provisioning.settings import Settings
from tests.shared.platform import audit_actions, set_store


def pod(name: str, node: str | None, *, init: tuple[str, ...] = (), main: tuple[str, ...] = ("app",)) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "initContainers": [{"name": n} for n in init],
        "containers": [{"name": n} for n in main],
    }
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name}, "spec": spec}


class FakeCore:
    """CoreV1Api.read_namespaced_pod_log, answering from a table (ApiException for a miss)."""

    def __init__(self, logs: dict[tuple[str, str], str]) -> None:
        self.logs = logs
        self.calls: list[tuple[str, str, int]] = []

    def read_namespaced_pod_log(self, name: str, namespace: str, *, container: str, tail_lines: int, **_: Any) -> str:
        self.calls.append((name, container, tail_lines))
        if (name, container) not in self.logs:
            error = client.ApiException(status=400, reason="Bad Request")
            error.body = f'{{"message": "container \\"{container}\\" in pod \\"{name}\\" is waiting to start"}}'
            raise error
        return self.logs[(name, container)]


def test_init_containers_come_first_then_the_pods_containers() -> None:
    assert containers_of(pod("p", "n", init=("wait-db",), main=("web", "sidecar"))) == ["wait-db", "web", "sidecar"]


def test_a_pod_on_kwok_or_unscheduled_has_no_log_and_says_why() -> None:
    fake = frozenset({"kwok-node-0"})
    assert unavailable_reason(pod("p", "kwok-node-0"), fake) == SIMULATED
    assert unavailable_reason(pod("p", None), fake) == NOT_SCHEDULED
    assert unavailable_reason(pod("p", "real-node-0"), fake) == ""


def test_each_container_is_read_alone_and_one_failure_hides_no_other() -> None:
    core = FakeCore({("web-1", "web"): "GET / 200\n", ("setup-x", "store-setup"): "store-setup: store is set up\n"})
    pods = [pod("web-1", "real-node-0", main=("web", "php")), pod("setup-x", "real-node-0", main=("store-setup",))]
    pods.append(pod("db-0", "kwok-node-0", main=("mariadb",)))
    logs = read_logs(core, "ns", pods, fake_nodes=frozenset({"kwok-node-0"}), tail_lines=50)  # type: ignore[arg-type]
    assert [(entry.pod, entry.container) for entry in logs] == [
        ("db-0", "mariadb"),
        ("setup-x", "store-setup"),
        ("web-1", "web"),
        ("web-1", "php"),
    ]
    by = {entry.label: entry for entry in logs}
    assert by["db-0 / mariadb"].unavailable == SIMULATED
    assert by["setup-x / store-setup"] == ContainerLog("setup-x", "store-setup", text="store-setup: store is set up\n")
    assert by["web-1 / php"].unavailable == 'not available: container "php" in pod "web-1" is waiting to start'
    # kwok's pod is never asked for (its kubelet is not there); every real read asks for 50 lines.
    assert {c[0] for c in core.calls} == {"web-1", "setup-x"} and {c[2] for c in core.calls} == {50}


class Reader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        raise AssertionError("not used")

    def store_logs(self, namespace: str, *, tail_lines: int) -> list[ContainerLog]:
        self.calls.append((namespace, tail_lines))
        return [ContainerLog("web-1", "web", text="hello\n")]


def test_the_owner_and_an_admin_read_logs_audited_others_see_nothing(
    db: Engine, settings: Settings, alice: Actor, bob: Actor, admin: Actor
) -> None:
    reader = Reader()
    service = StoreService(db, settings, secrets=reader)  # type: ignore[arg-type]
    store = service.create_store(alice, "logged-shop")
    assert service.store_logs(alice, store.id)[0].text == "hello\n"
    assert service.store_logs(admin, store.id, tail_lines=10)[0].container == "web"
    with pytest.raises(NotFoundError):
        service.store_logs(bob, store.id)
    assert reader.calls == [(store.namespace, 200), (store.namespace, 10)]
    assert audit_actions(db, store.id).count("store.logs_viewed") == 2


@pytest.mark.parametrize("tail", [0, -1, 5001, "20"])
def test_a_tail_out_of_bounds_is_refused_before_any_read(
    db: Engine, settings: Settings, alice: Actor, tail: object
) -> None:
    reader = Reader()
    service = StoreService(db, settings, secrets=reader)  # type: ignore[arg-type]
    store = service.create_store(alice, "tail-shop")
    with pytest.raises(ValidationError, match="1 to 5000 lines"):
        service.store_logs(alice, store.id, tail_lines=tail)  # type: ignore[arg-type]
    assert reader.calls == []


def test_a_deleted_store_or_no_cluster_says_so(db: Engine, settings: Settings, alice: Actor) -> None:
    service = StoreService(db, settings)
    store = service.create_store(alice, "gone-shop")
    with pytest.raises(InvalidStateError, match="not connected"):
        service.store_logs(alice, store.id)
    set_store(db, store.id, status=StoreStatus.DELETED)
    with pytest.raises(InvalidStateError, match="deleted"):
        StoreService(db, settings, secrets=Reader()).store_logs(alice, store.id)  # type: ignore[arg-type]
