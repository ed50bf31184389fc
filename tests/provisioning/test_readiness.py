"""Readiness of workloads in the middle of a rollout (provisioning/readiness.py), as data."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.engines.base import Check
from provisioning.readiness import evaluate, rollout_pending

WEB = Check("AppReady", "Deployment", "wordpress", "Web server")
DB = Check("DatabaseReady", "StatefulSet", "mariadb", "Database")


def deployment(wanted: int, generation: int, **status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": wanted}, "status": status}


def test_a_finished_rollout_is_available() -> None:
    done = deployment(2, 2, observedGeneration=2, replicas=2, updatedReplicas=2, availableReplicas=2)
    assert rollout_pending("Deployment", done) is None
    assert evaluate(WEB, done).ready


@pytest.mark.parametrize(
    ("status", "why"),
    [
        # The controller has not read the new spec: its counts are about the old one.
        ({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 2}, "not seen"),
        # Two available, but one of them is an old pod (the failure seen in CI on a plan change).
        ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}, "terminating"),
        ({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2}, "1/2 pods updated"),
        # Replicas and template changed at once: the old pods were scaled up first, none is
        # updated yet, and the API omits the zero count (cluster group flake series, run 8).
        ({"observedGeneration": 2, "replicas": 2, "availableReplicas": 2}, "0/2 pods updated"),
    ],
)
def test_old_pods_do_not_make_a_deployment_available(status: dict[str, Any], why: str) -> None:
    mid = deployment(2, 2, **status)
    assert why in (rollout_pending("Deployment", mid) or "")
    observed = evaluate(WEB, mid)
    assert not observed.ready and observed.reason == "RollingOut" and why in observed.message


def test_a_quota_failure_is_reported_over_the_rollout() -> None:
    failing = deployment(
        2,
        2,
        observedGeneration=2,
        replicas=0,
        updatedReplicas=0,
        conditions=[{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota"}],
    )
    assert evaluate(WEB, failing).reason == "FailedCreate"


def test_a_fresh_object_without_status_is_starting_not_rolling_out() -> None:
    fresh = {"metadata": {}, "spec": {"replicas": 1}}
    assert rollout_pending("Deployment", fresh) is None
    assert evaluate(WEB, fresh).reason == "Starting"


def test_a_statefulset_is_ready_only_on_its_new_revision() -> None:
    base = {"observedGeneration": 3, "readyReplicas": 1, "updatedReplicas": 1}
    old = {"metadata": {"generation": 3}, "spec": {"replicas": 1}, "status": base | {"currentRevision": "a"}}
    old["status"]["updateRevision"] = "b"
    assert not evaluate(DB, old).ready and "revision" in evaluate(DB, old).message
    new = {**old, "status": base | {"currentRevision": "b", "updateRevision": "b"}}
    assert evaluate(DB, new).ready
