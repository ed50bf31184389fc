"""When is a cluster simulated (no container answers a shopper)? kube.is_simulated on node lists."""

from __future__ import annotations

from typing import Any

from provisioning.kube import is_simulated


def node(name: str, *, kwok: bool = False, taint: str = "", unschedulable: bool = False) -> dict[str, Any]:
    annotations = {"kwok.x-k8s.io/node": "fake"} if kwok else {}
    spec: dict[str, Any] = {"unschedulable": unschedulable}
    if taint:
        spec["taints"] = [{"key": "store-platform.io/real-node", "value": "true", "effect": taint}]
    return {"metadata": {"name": name, "annotations": annotations}, "spec": spec}


def test_only_kwok_nodes_is_simulated() -> None:
    assert is_simulated([node("kwok-1", kwok=True), node("kwok-2", kwok=True)])


def test_kwok_plus_a_tainted_real_node_still_runs_store_pods_on_kwok() -> None:
    assert is_simulated([node("kwok-1", kwok=True), node("real", taint="NoSchedule")])
    assert is_simulated([node("kwok-1", kwok=True), node("real", unschedulable=True)])


def test_kwok_plus_an_open_real_node_is_not_simulated() -> None:
    assert not is_simulated([node("kwok-1", kwok=True), node("real")])
    assert not is_simulated([node("kwok-1", kwok=True), node("real", taint="PreferNoSchedule")])


def test_a_real_cluster_is_never_simulated_whatever_its_taints() -> None:
    assert not is_simulated([node("a", taint="NoSchedule"), node("b", taint="NoExecute")])
    assert not is_simulated([])
