"""STORE_TOLERATIONS: parsed at start-up, applied to every store pod of both engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.engines import get_engine
from provisioning.engines.base import StoreSpec
from provisioning.errors import SettingsError
from tests.conftest import make_settings


def test_tolerations_are_parsed_in_each_form(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, store_tolerations="dedicated=stores:NoSchedule, gpu:NoExecute, spot")
    assert settings.tolerations == [
        {"key": "dedicated", "operator": "Equal", "value": "stores", "effect": "NoSchedule"},
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute"},
        {"key": "spot", "operator": "Exists"},
    ]


@pytest.mark.parametrize("raw", ["=x:NoSchedule", "a=b:Sometimes", ":NoSchedule"])
def test_a_bad_toleration_is_refused_with_its_item(tmp_path: Path, raw: str) -> None:
    with pytest.raises(SettingsError, match="STORE_TOLERATIONS item"):
        make_settings(tmp_path, store_tolerations=raw)


@pytest.mark.parametrize("engine", ["woocommerce", "medusa"])
def test_every_store_pod_gets_the_placement(tmp_path: Path, engine: str) -> None:
    settings = make_settings(
        tmp_path, store_node_selector="role=stores", store_tolerations="dedicated=stores:NoSchedule"
    )
    spec = StoreSpec("a" * 32, "placed", "store-placed-aaaaaaaa", "alice", engine, "admin", "a@b.invalid")
    pods = []
    for manifest in get_engine(engine).workloads(spec, settings):
        spec_of = manifest.get("spec", {})
        if manifest["kind"] == "CronJob":
            spec_of = spec_of["jobTemplate"]["spec"]
        if "template" in spec_of:
            pods.append(spec_of["template"]["spec"])
    assert pods
    for pod in pods:
        assert pod["nodeSelector"] == {"role": "stores"}
        assert pod["tolerations"] == [
            {"key": "dedicated", "operator": "Equal", "value": "stores", "effect": "NoSchedule"}
        ]
