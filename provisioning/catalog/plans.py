"""Store plans: how much of the cluster a store may use, per engine.

A plan fixes, for each engine, the ResourceQuota hard values of the store's namespace,
the LimitRange defaults of its containers, the size of each volume (``database``,
``uploads``) and the replica count of its web Deployment. Pure: no I/O beyond reading
the file named by PLANS_FILE.

The built-in plans are ``small``, ``medium`` and ``large``; ``small`` is built from the
STORE_QUOTA_*, MEDUSA_QUOTA_* and STORE_VOLUME_SIZE settings, so a store on it renders
exactly the manifests it rendered before plans existed. PLANS (JSON) or PLANS_FILE (YAML
or JSON) replace them: a list of plans, each
``{"name", "title", "description"?, "engines": {engine: {"quota", "limits", "volumes",
"replicas"}}}``; an engine a plan leaves out gets that of the built-in small plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from provisioning.errors import SettingsError

if TYPE_CHECKING:
    from provisioning.settings import Settings

ENGINE_NAMES = ("woocommerce", "medusa")
VOLUME_NAMES = ("database", "uploads")
LIMIT_KEYS = ("default", "defaultRequest", "max")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

# Today's LimitRange of every store namespace (provisioning/engines/tenancy.py).
BASE_LIMITS: dict[str, dict[str, str]] = {
    "default": {"cpu": "500m", "memory": "512Mi"},
    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
    "max": {"cpu": "1", "memory": "1Gi"},
}

_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "m": 10**-3,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([A-Za-z]{0,2})$")


def quantity(text: object) -> float:
    """A Kubernetes quantity ("10Gi", "500m", "2") as a number; ValueError if it is not one."""
    match = _QUANTITY.match(str(text).strip())
    if not match or (match.group(2) and match.group(2) not in _SUFFIXES):
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return float(match.group(1)) * _SUFFIXES.get(match.group(2), 1)


@dataclass(frozen=True)
class EnginePlan:
    """What a plan gives one engine's stores."""

    quota: Mapping[str, str]
    limits: Mapping[str, Mapping[str, str]]
    volumes: Mapping[str, str]
    replicas: int = 1

    def volume(self, name: str) -> str:
        return self.volumes[name]


@dataclass(frozen=True)
class Plan:
    name: str
    title: str
    engines: Mapping[str, EnginePlan]
    description: str = ""

    def for_engine(self, engine: str) -> EnginePlan:
        return self.engines[engine]

    def with_volumes(self, engine: str, sizes: Mapping[str, str] | None) -> Plan:
        """This plan, with the volumes a store actually has (they may lag a plan change)."""
        if not sizes:
            return self
        current = self.engines[engine]
        volumes = {name: sizes.get(name, size) for name, size in current.volumes.items()}
        return replace(self, engines={**self.engines, engine: replace(current, volumes=volumes)})

    def summary(self, engine: str) -> str:
        """One line for the order form: CPU, memory, volumes."""
        e = self.engines[engine]
        volumes = ", ".join(f"{name} {size}" for name, size in e.volumes.items())
        replicas = f"; {e.replicas} web replicas" if e.replicas > 1 else ""
        return (
            f"up to {e.quota.get('limits.cpu', '?')} CPU and {e.quota.get('limits.memory', '?')} memory; "
            f"volumes: {volumes}{replicas}"
        )


@dataclass(frozen=True)
class Catalog:
    """The plans on offer, the default one, and those users (not admins) may order."""

    plans: Mapping[str, Plan]
    default: str
    orderable: tuple[str, ...] = field(default=())

    def get(self, name: str) -> Plan:
        return self.plans[name]

    def for_store(self, name: str, engine: str, volume_sizes: Mapping[str, str] | None = None) -> Plan:
        """A store's plan (the default one if `name` is empty or no longer defined), with
        the volume sizes the store has (they lag its plan where a volume could not grow)."""
        plan = self.plans.get(name) or self.plans[self.default]
        return plan.with_volumes(engine, volume_sizes)

    def orderable_by(self, *, admin: bool) -> list[Plan]:
        return [p for p in self.plans.values() if admin or p.name in self.orderable]


def _scaled(base: EnginePlan, *, cpu: str, memory: str, limits_cpu: str, limits_memory: str, **kw: Any) -> EnginePlan:
    quota = dict(base.quota)
    quota.update({"requests.cpu": cpu, "requests.memory": memory, "limits.cpu": limits_cpu})
    quota.update({"limits.memory": limits_memory, "requests.storage": kw["storage"], "pods": kw["pods"]})
    return EnginePlan(quota=quota, limits=kw["limits"], volumes=kw["volumes"], replicas=kw.get("replicas", 1))


def builtin_plans(settings: Settings) -> dict[str, Plan]:
    """small (today's settings), medium and large."""
    shared = {"requests.storage": settings.quota_storage, "pods": str(settings.quota_pods)}
    woo_quota = {
        "requests.cpu": settings.quota_requests_cpu,
        "requests.memory": settings.quota_requests_memory,
        "limits.cpu": settings.quota_limits_cpu,
        "limits.memory": settings.quota_limits_memory,
        **shared,
    }
    medusa_quota = {
        "requests.cpu": settings.medusa_quota_requests_cpu,
        "requests.memory": settings.medusa_quota_requests_memory,
        "limits.cpu": settings.medusa_quota_limits_cpu,
        "limits.memory": settings.medusa_quota_limits_memory,
        **shared,
    }
    volumes = {name: settings.volume_size for name in VOLUME_NAMES}
    small = {
        "woocommerce": EnginePlan(woo_quota, BASE_LIMITS, volumes),
        "medusa": EnginePlan(medusa_quota, BASE_LIMITS, volumes),
    }
    medium_limits = {
        "default": {"cpu": "1", "memory": "1Gi"},
        "defaultRequest": {"cpu": "200m", "memory": "256Mi"},
        "max": {"cpu": "2", "memory": "2Gi"},
    }
    large_limits = {
        "default": {"cpu": "1", "memory": "1Gi"},
        "defaultRequest": {"cpu": "250m", "memory": "256Mi"},
        "max": {"cpu": "2", "memory": "4Gi"},
    }
    medium_volumes = {name: "10Gi" for name in VOLUME_NAMES}
    large_volumes = {name: "20Gi" for name in VOLUME_NAMES}
    medium = {
        "woocommerce": _scaled(
            small["woocommerce"], cpu="2", memory="3Gi", limits_cpu="4", limits_memory="4Gi",
            storage="30Gi", pods="15", limits=medium_limits, volumes=medium_volumes,
        ),
        "medusa": _scaled(
            small["medusa"], cpu="2", memory="4Gi", limits_cpu="6", limits_memory="7Gi",
            storage="30Gi", pods="15", limits=medium_limits, volumes=medium_volumes,
        ),
    }  # fmt: skip
    large = {
        "woocommerce": _scaled(
            small["woocommerce"], cpu="4", memory="6Gi", limits_cpu="8", limits_memory="8Gi",
            storage="60Gi", pods="20", limits=large_limits, volumes=large_volumes, replicas=2,
        ),
        "medusa": _scaled(
            small["medusa"], cpu="4", memory="8Gi", limits_cpu="12", limits_memory="14Gi",
            storage="60Gi", pods="20", limits=large_limits, volumes=large_volumes, replicas=2,
        ),
    }  # fmt: skip
    return {
        "small": Plan("small", "Small", small, "A small shop: today's default sizes."),
        "medium": Plan("medium", "Medium", medium, "More CPU, memory and room for data."),
        "large": Plan("large", "Large", large, "Busy shops: two web replicas and large volumes."),
    }


def load_catalog(settings: Settings) -> Catalog:
    """The plans of these settings, validated; SettingsError says what to fix."""
    builtin = builtin_plans(settings)
    source = ""
    raw: Any = None
    if settings.plans_json:
        source = "PLANS"
        raw = _parse_json(settings.plans_json, source)
    elif settings.plans_file:
        source = f"PLANS_FILE {settings.plans_file}"
        raw = _read_file(settings.plans_file, source)
    plans = parse_plans(raw, builtin["small"], source=source) if source else builtin
    orderable_raw = [p.strip() for p in settings.orderable_plans.split(",") if p.strip()]
    unknown = [p for p in orderable_raw if p not in plans]
    if unknown:
        raise SettingsError(
            f"ORDERABLE_PLANS names unknown plans {', '.join(unknown)}; the plans are: {', '.join(plans)}."
        )
    orderable = tuple(orderable_raw) if orderable_raw else tuple(plans)
    default = settings.default_plan or ("small" if "small" in orderable else orderable[0])
    if default not in plans:
        raise SettingsError(f"DEFAULT_PLAN {default!r} is not a plan; the plans are: {', '.join(plans)}.")
    if default not in orderable:  # a user ordering without a plan would be refused
        raise SettingsError(f"DEFAULT_PLAN {default!r} must be one of ORDERABLE_PLANS ({', '.join(orderable)}).")
    return Catalog(plans=plans, default=default, orderable=orderable)


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SettingsError(f"{source} is not valid JSON: {error}.") from None


def _read_file(path: str, source: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise SettingsError(f"{source} cannot be read: {error.strerror or error}.") from None
    import yaml  # JSON is YAML too

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SettingsError(f"{source} is not valid YAML: {str(error).splitlines()[0]}.") from None


def parse_plans(raw: Any, fallback: Plan, *, source: str = "PLANS") -> dict[str, Plan]:
    """A list of plan objects (or {"plans": [...]}) into plans by name."""
    if isinstance(raw, dict) and "plans" in raw:
        raw = raw["plans"]
    if not isinstance(raw, list) or not raw:
        raise SettingsError(f"{source} must be a non-empty list of plans.")
    plans: dict[str, Plan] = {}
    for index, item in enumerate(raw):
        where = f"{source}: plan #{index + 1}"
        if not isinstance(item, dict):
            raise SettingsError(f"{where} must be an object with name, title and engines.")
        name = item.get("name")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise SettingsError(f"{where}: name {name!r} must be lowercase letters, digits and dashes.")
        where = f"{source}: plan {name!r}"
        if name in plans:
            raise SettingsError(f"{where} is defined twice.")
        engines_raw = item.get("engines") or {}
        if not isinstance(engines_raw, dict):
            raise SettingsError(f"{where}: engines must map an engine name to its sizes.")
        unknown = [e for e in engines_raw if e not in ENGINE_NAMES]
        if unknown:
            raise SettingsError(f"{where}: unknown engine {unknown[0]!r} (engines: {', '.join(ENGINE_NAMES)}).")
        engines = {
            engine: _engine_plan(engines_raw[engine], fallback.engines[engine], f"{where}, {engine}")
            if engine in engines_raw
            else fallback.engines[engine]
            for engine in ENGINE_NAMES
        }
        title = item.get("title") or name.capitalize()
        plans[name] = Plan(name, str(title), engines, str(item.get("description") or ""))
    return plans


def _engine_plan(raw: Any, base: EnginePlan, where: str) -> EnginePlan:
    if not isinstance(raw, dict):
        raise SettingsError(f"{where} must be an object with quota, limits, volumes and replicas.")
    extra = set(raw) - {"quota", "limits", "volumes", "replicas"}
    if extra:
        raise SettingsError(f"{where}: unknown key {sorted(extra)[0]!r} (use quota, limits, volumes, replicas).")
    quota = dict(base.quota)
    for key, value in (raw.get("quota") or {}).items():
        quota[str(key)] = _checked(value, f"{where}: quota {key}", count=key in ("pods", "persistentvolumeclaims"))
    limits = {k: dict(v) for k, v in base.limits.items()}
    for kind, values in (raw.get("limits") or {}).items():
        if kind not in LIMIT_KEYS or not isinstance(values, dict):
            raise SettingsError(f"{where}: limits.{kind} is not one of {', '.join(LIMIT_KEYS)} with cpu and memory.")
        for resource, value in values.items():
            if resource not in ("cpu", "memory"):
                raise SettingsError(f"{where}: limits.{kind}.{resource} must be cpu or memory.")
            limits[kind][resource] = _checked(value, f"{where}: limits.{kind}.{resource}")
    volumes = dict(base.volumes)
    for volume, size in (raw.get("volumes") or {}).items():
        if volume not in VOLUME_NAMES:
            raise SettingsError(f"{where}: unknown volume {volume!r} (volumes: {', '.join(VOLUME_NAMES)}).")
        volumes[volume] = _checked(size, f"{where}: volumes.{volume}")
    replicas = raw.get("replicas", base.replicas)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or not 1 <= replicas <= 10:
        raise SettingsError(f"{where}: replicas must be a whole number from 1 to 10, not {replicas!r}.")
    plan = EnginePlan(quota=quota, limits=limits, volumes=volumes, replicas=replicas)
    storage = quota.get("requests.storage")
    if storage and sum(quantity(v) for v in volumes.values()) > quantity(storage):
        raise SettingsError(f"{where}: its volumes add up to more than its quota requests.storage {storage}.")
    return plan


def _checked(value: object, where: str, *, count: bool = False) -> str:
    text = str(value).strip()
    try:
        number = quantity(text)
    except ValueError:
        raise SettingsError(f"{where}: {value!r} is not a Kubernetes quantity such as 500m, 2 or 10Gi.") from None
    if number <= 0 and not count:
        raise SettingsError(f"{where} must be more than 0.")
    return text


def shrinking_volume(current: EnginePlan, new: EnginePlan, plan_name: str) -> str | None:
    """Why moving from `current` (the store's volume sizes) to `new` is refused, or None."""
    for volume, size in current.volumes.items():
        wanted = new.volumes.get(volume, size)
        if quantity(wanted) < quantity(size):
            return (
                f"Volumes never shrink: the {volume} volume is {size} on this store; plan {plan_name!r} has {wanted}."
            )
    return None
