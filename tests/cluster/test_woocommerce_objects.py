"""WooCommerce's newer objects on the real API server: the WP-cron CronJob and the Apache
prefork ConfigMap pass validation and admission, and a cron run's pod is admitted under
Pod Security `restricted` and the store's quota while the store's other pods run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.models import StoreStatus
from tests.shared.platform import StorePlatform
from tests.shared.portal import unique
from tests.shared.waiting import wait_for

pytestmark = pytest.mark.cluster


@pytest.fixture
def platform(tmp_path: Path, control_plane: Any) -> Iterator[StorePlatform]:
    world = StorePlatform(tmp_path, None, control_plane.kubeconfig, provisioning_timeout_seconds=120)
    yield world
    world.db.dispose()


def test_cron_and_prefork_config_are_served_and_a_cron_run_is_admitted(platform: StorePlatform) -> None:
    store = platform.stores.create_store(platform.alice, unique("cron"))
    final = platform.drive(store.id, lambda s: s.status == StoreStatus.READY)
    assert final.shopper_status == "not_verifiable" and "simulated cluster" in final.shopper_message
    kube, ns = platform.kube, store.namespace
    assert kube is not None

    cron = kube.get("batch/v1", "CronJob", "wp-cron", namespace=ns)
    assert cron is not None
    assert cron["spec"]["schedule"] == platform.settings.wp_cron_schedule
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    config = kube.get("v1", "ConfigMap", "apache-mpm", namespace=ns)
    assert config is not None and "MaxRequestWorkers 4" in config["data"]["mpm_prefork.conf"]

    # What `kubectl create job --from=cronjob/wp-cron` does: a Job from the template.
    template = copy.deepcopy(cron["spec"]["jobTemplate"])
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "wp-cron-manual", "namespace": ns, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    kube.apply(job)

    def cron_pods() -> list[dict[str, Any]]:
        return kube.list("v1", "Pod", namespace=ns, label_selector="job-name=wp-cron-manual")

    pods = wait_for(cron_pods, what="the cron run's pod to be admitted and created", timeout=60)
    (pod,) = pods
    assert pod["spec"]["securityContext"]["runAsUser"] == 33
    web = kube.list("v1", "Pod", namespace=ns, label_selector="app.kubernetes.io/component=web")
    wait_for(
        lambda: kube.get("v1", "Pod", pod["metadata"]["name"], namespace=ns)["spec"].get("nodeName"),
        what="the cron pod to be scheduled",
        timeout=60,
    )
    placed = kube.get("v1", "Pod", pod["metadata"]["name"], namespace=ns)
    assert placed["spec"]["nodeName"] == web[0]["spec"]["nodeName"], "next to the web pod (RWO volume)"
    events = [e.reason for e in kube.warning_events(ns) if "wp-cron-manual" in e.object]
    assert "FailedCreate" not in events, "quota or Pod Security refused the cron pod"
