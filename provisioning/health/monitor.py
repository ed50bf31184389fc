"""Run the shopper-path check for one store, and decide what a ready store's result means.

The reconciler owns the when (after provisioning, then every SHOPPER_CHECK_INTERVAL);
this module owns the how, and the wording a store owner sees.
"""

from __future__ import annotations

from typing import Any, Protocol

from provisioning.engines import get_engine
from provisioning.engines.base import SECRET_NAME, StoreSpec
from provisioning.health.shopper import ShopperResult, check_store, not_verifiable
from provisioning.models import ShopperStatus, Store
from provisioning.settings import Settings


class SecretSource(Protocol):
    def read_secret_value(self, namespace: str, name: str, key: str) -> str: ...


def run_check(cluster: SecretSource, spec: StoreSpec, settings: Settings, *, simulated: bool) -> ShopperResult:
    """Through SHOPPER_CHECK_URL (or the store's URL) with the store's Host header."""
    if simulated:
        return not_verifiable()
    engine = get_engine(spec.engine)
    return check_store(
        settings.shopper_check_url or spec.url(settings),
        spec.host(settings),
        engine.shopper_path(spec),
        secret=lambda key: cluster.read_secret_value(spec.namespace, SECRET_NAME, key),
        timeout=settings.shopper_check_timeout_seconds,
    )


def shopper_condition(result: ShopperResult, previous: list[dict[str, Any]], now_iso: str) -> dict[str, Any]:
    """The last step of a store's progress list, beside the object conditions."""
    status = {"passed": "True", "failed": "False"}.get(result.status, "Unknown")
    old = next((c for c in previous if c.get("type") == "ShopperReady"), None)
    changed = old is None or old.get("status") != status
    return {
        "type": "ShopperReady",
        "title": "Storefront",
        "status": status,
        "reason": {"passed": "Passed", "failed": "Failing"}.get(result.status, "NotVerifiable"),
        "message": result.message,
        "last_transition": now_iso if changed else old.get("last_transition", now_iso),
    }


def ready_store_changes(store: Store, result: ShopperResult, now: Any) -> tuple[dict[str, Any], str | None]:
    """Row changes for a ready store after a re-check, and the audit action if its health flipped."""
    changes: dict[str, Any] = {
        "shopper_status": result.status,
        "shopper_message": result.message[:1000],
        "shopper_checked_at": now,
    }
    if result.status == ShopperStatus.FAILED:
        changes.update(health="degraded", message=f"Degraded: shoppers cannot use the store. {result.message}"[:2000])
        return changes, None if store.health == "degraded" else "store.degraded"
    if store.health == "degraded":
        changes.update(health="working", message=f"Ready: open {store.url}")
        return changes, "store.recovered"
    return changes, None
