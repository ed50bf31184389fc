"""Plans: the built-in ones, PLANS / PLANS_FILE parsing and its errors, and the promise that
the default plan renders exactly the manifests stores had before plans existed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioning.catalog.plans import EnginePlan, quantity, shrinking_volume
from provisioning.engines import get_engine
from provisioning.engines.base import StoreSpec
from provisioning.errors import SettingsError
from provisioning.settings import Settings


def spec(engine: str) -> StoreSpec:
    return StoreSpec("a" * 32, "shop", "store-shop-aaaaaa", "alice", engine, "shop-admin", "shop-admin@shop.invalid")


def one(manifests: list[dict], kind: str, name: str | None = None) -> dict:
    return next(m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name))


def test_builtin_plans_and_defaults() -> None:
    catalog = Settings.from_env({}).catalog
    assert list(catalog.plans) == ["small", "medium", "large"]
    assert catalog.default == "small" and catalog.orderable == ("small", "medium", "large")
    large = catalog.get("large").for_engine("woocommerce")
    assert large.replicas == 2 and large.volumes == {"database": "20Gi", "uploads": "20Gi"}
    assert "12 CPU" in catalog.get("large").summary("medusa")


@pytest.mark.parametrize("engine", ["woocommerce", "medusa"])
def test_the_default_plan_renders_todays_manifests(engine: str) -> None:
    settings = Settings.from_env({"STORE_VOLUME_SIZE": "3Gi", "STORE_QUOTA_PODS": "12"})
    store_engine = get_engine(engine)
    before = store_engine.workloads(spec(engine), settings)
    assert before == store_engine.workloads(spec(engine), settings, plan=settings.catalog.get("small"))
    limits = one(before, "LimitRange")["spec"]["limits"][0]
    assert limits["default"] == {"cpu": "500m", "memory": "512Mi"}
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert limits["max"] == {"cpu": "1", "memory": "1Gi"}
    hard = one(before, "ResourceQuota")["spec"]["hard"]
    assert hard["pods"] == "12" and hard["requests.storage"] == settings.quota_storage
    sizes = {m["spec"]["resources"]["requests"]["storage"] for m in before if m["kind"] == "PersistentVolumeClaim"}
    sts = one(before, "StatefulSet", "mariadb" if engine == "woocommerce" else "postgres")
    assert sizes == {"3Gi"} and sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "3Gi"
    }
    deployments = [m for m in before if m["kind"] == "Deployment"]
    assert deployments and all("affinity" not in m["spec"]["template"]["spec"] for m in deployments)


def test_plans_json_overrides_and_inherits_from_small() -> None:
    raw = [
        {"name": "tiny", "title": "Tiny", "engines": {"woocommerce": {"volumes": {"database": "1Gi"}}}},
        {"name": "huge", "engines": {"medusa": {"quota": {"limits.cpu": "16"}, "replicas": 3}}},
    ]
    settings = Settings.from_env({"PLANS": json.dumps(raw), "DEFAULT_PLAN": "tiny", "ORDERABLE_PLANS": "tiny"})
    catalog = settings.catalog
    assert list(catalog.plans) == ["tiny", "huge"] and catalog.default == "tiny"
    assert [p.name for p in catalog.orderable_by(admin=False)] == ["tiny"]
    assert [p.name for p in catalog.orderable_by(admin=True)] == ["tiny", "huge"]
    tiny = catalog.get("tiny").for_engine("woocommerce")
    assert tiny.volumes == {"database": "1Gi", "uploads": "2Gi"} and tiny.quota["limits.cpu"] == "2"
    huge = catalog.get("huge")
    assert huge.title == "Huge" and huge.for_engine("medusa").replicas == 3
    assert huge.for_engine("medusa").quota["limits.cpu"] == "16"
    assert huge.for_engine("woocommerce") == Settings.from_env({}).catalog.get("small").for_engine("woocommerce")


def test_the_default_plan_is_an_orderable_one() -> None:
    assert Settings.from_env({"ORDERABLE_PLANS": "medium,large"}).catalog.default == "medium"


def test_plans_file_yaml(tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    path.write_text("plans:\n  - name: shop\n    title: Shop\n    engines:\n      woocommerce:\n        replicas: 2\n")
    catalog = Settings.from_env({"PLANS_FILE": str(path)}).catalog
    assert list(catalog.plans) == ["shop"] and catalog.default == "shop"
    assert catalog.get("shop").for_engine("woocommerce").replicas == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLANS": "{not json"}, "PLANS is not valid JSON"),
        ({"PLANS": "[]"}, "PLANS must be a non-empty list of plans"),
        ({"PLANS": '[{"name": "Big Plan"}]'}, "must be lowercase letters"),
        ({"PLANS": '[{"name": "a"}, {"name": "a"}]'}, "plan 'a' is defined twice"),
        ({"PLANS": '[{"name": "a", "engines": {"shopify": {}}}]'}, "unknown engine 'shopify'"),
        ({"PLANS": '[{"name": "a", "engines": {"medusa": {"size": 1}}}]'}, "unknown key 'size'"),
        ({"PLANS": '[{"name": "a", "engines": {"medusa": {"quota": {"limits.cpu": "lots"}}}}]'}, "quota limits.cpu"),
        ({"PLANS": '[{"name": "a", "engines": {"medusa": {"volumes": {"cache": "1Gi"}}}}]'}, "unknown volume 'cache'"),
        ({"PLANS": '[{"name": "a", "engines": {"medusa": {"replicas": 0}}}]'}, "replicas must be a whole number"),
        (
            {"PLANS": '[{"name": "a", "engines": {"medusa": {"volumes": {"database": "9Gi"}}}}]'},
            "volumes add up to more than its quota requests.storage 10Gi",
        ),
        ({"PLANS": '[{"name": "a", "engines": {"medusa": {"limits": {"max": {"gpu": "1"}}}}}]'}, "cpu or memory"),
        ({"PLANS_FILE": "/nonexistent/plans.yaml"}, "PLANS_FILE /nonexistent/plans.yaml cannot be read"),
        ({"DEFAULT_PLAN": "gold"}, "DEFAULT_PLAN 'gold' is not a plan; the plans are: small, medium, large"),
        ({"ORDERABLE_PLANS": "small,gold"}, "ORDERABLE_PLANS names unknown plans gold"),
        ({"ORDERABLE_PLANS": "medium", "DEFAULT_PLAN": "small"}, "DEFAULT_PLAN 'small' must be one of ORDERABLE_PLANS"),
    ],
)
def test_bad_plans_are_refused_at_start_up(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_quantities_and_shrinking() -> None:
    assert quantity("10Gi") == 10 * 2**30 and quantity("500m") == 0.5 and quantity("2") == 2
    with pytest.raises(ValueError):
        quantity("ten")
    big = EnginePlan({}, {}, {"database": "10Gi", "uploads": "10Gi"})
    small = EnginePlan({}, {}, {"database": "5Gi", "uploads": "10Gi"})
    assert shrinking_volume(small, big, "large") is None
    assert shrinking_volume(big, small, "small") == (
        "Volumes never shrink: the database volume is 10Gi on this store; plan 'small' has 5Gi."
    )
