"""The REST API's view of the shopper-path check: never a pass that was not seen."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.api import store_json
from provisioning.models import ShopperStatus, Store


def make(**fields: object) -> Store:
    base = {"name": "shop", "namespace": "store-shop-00000000", "owner_id": 1, "url": "http://shop.stores.localhost"}
    return Store(**{**base, **fields})


def test_a_store_on_a_simulated_cluster_says_not_verifiable() -> None:
    checked = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    store = make(
        status="ready",
        shopper_status=ShopperStatus.NOT_VERIFIABLE,
        shopper_message="Not verifiable on a simulated cluster: its nodes (kwok) run no containers.",
        shopper_checked_at=checked,
    )
    check = store_json(store)["shopperCheck"]
    assert check == {
        "status": "not_verifiable",
        "message": "Not verifiable on a simulated cluster: its nodes (kwok) run no containers.",
        "checkedAt": checked.isoformat(),
    }


def test_an_unchecked_store_is_unchecked_not_passed() -> None:
    assert store_json(make(status="provisioning"))["shopperCheck"]["status"] == "unchecked"


def test_a_degraded_store_reports_the_failure() -> None:
    store = make(status="ready", health="degraded", shopper_status="failed", shopper_message="Storefront: 502")
    data = store_json(store)
    assert (data["health"], data["shopperCheck"]["status"]) == ("degraded", "failed")
