"""The software versions a store runs: recorded per store, rendered from the record.

Each store row keeps the versions it was provisioned or last upgraded with (its engine's
image references and, for WooCommerce, the plugin version). Its manifests are rendered
from that record, never from whatever the platform pins today: moving a pin (a new
WORDPRESS_IMAGE, say) changes nothing in running stores until an administrator upgrades
them (provisioning/upgrades/), which backs them up first and rolls back on failure. A
resume, a plan change or a retry therefore never upgrades a store by accident.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioning.settings import Settings

# Engine -> version key -> the Settings field that pins it.
VERSION_FIELDS: dict[str, dict[str, str]] = {
    "woocommerce": {
        "wordpress": "wordpress_image",
        "wp-cli": "wpcli_image",
        "mariadb": "mariadb_image",
        "woocommerce": "woocommerce_version",
    },
    "medusa": {"medusa": "medusa_image", "postgres": "postgres_image", "redis": "redis_image"},
}


def pinned(settings: Settings, engine: str) -> dict[str, str]:
    """The versions the platform gives new stores of `engine` today."""
    return {key: str(getattr(settings, name)) for key, name in VERSION_FIELDS.get(engine, {}).items()}


def changes(current: Mapping[str, str] | None, target: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Key -> (from, to) for every version that differs; empty when up to date."""
    current = current or {}
    return {key: (current.get(key, ""), value) for key, value in target.items() if current.get(key) != value}


def describe(versions: Mapping[str, str] | None) -> str:
    """One line for messages and the audit log: `wordpress=…, woocommerce=…`."""
    return ", ".join(f"{key}={value}" for key, value in sorted((versions or {}).items())) or "not recorded"


def as_pairs(versions: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Hashable form, for StoreSpec."""
    return tuple(sorted((versions or {}).items()))


@functools.lru_cache(maxsize=256)
def _with_pairs(settings: Settings, engine: str, pairs: tuple[tuple[str, str], ...]) -> Settings:
    fields = VERSION_FIELDS.get(engine, {})
    overrides = {fields[key]: value for key, value in pairs if key in fields and value}
    return dataclasses.replace(settings, **overrides) if overrides else settings


def effective_settings(settings: Settings, engine: str, versions: tuple[tuple[str, str], ...]) -> Settings:
    """`settings` with the store's recorded versions in place of today's pins (cached: a
    store's manifests are rendered on every step)."""
    if not versions:
        return settings
    return _with_pairs(settings, engine, versions)
