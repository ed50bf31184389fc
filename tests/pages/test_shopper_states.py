"""The store page and My stores for the shopper-path check: not verifiable, degraded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from provisioning.models import StoreStatus, utcnow
from provisioning.platform import Platform
from tests.pages.conftest import actor
from tests.pages.test_page_states import CONDITIONS, set_state
from tests.pages.test_pages import texts

READY = [dict(c, status="True") for c in CONDITIONS]


@pytest.fixture
def store_id(portal_env: Platform) -> str:
    return portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop").id


def test_a_simulated_cluster_shows_not_verifiable_never_a_pass(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    message = "Not verifiable on a simulated cluster: its nodes (kwok) run no containers."
    shopper = {
        "type": "ShopperReady",
        "title": "Storefront",
        "status": "Unknown",
        "reason": "NotVerifiable",
        "message": message,
    }
    set_state(
        portal_env,
        store_id,
        status=StoreStatus.READY,
        ready_at=utcnow(),
        provisioning_started_at=utcnow(),
        conditions=[*READY, shopper],
        shopper_status="not_verifiable",
        shopper_message=message,
        shopper_checked_at=utcnow(),
    )
    at = open_page("store", "alice", id=store_id)
    assert not at.exception
    body = texts(at)
    assert "➖ **Storefront**" in body
    assert "Not verifiable on a simulated cluster" in body
    assert "A shopper's requests succeed" not in body


def test_a_degraded_store_says_so_with_the_reason(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    set_state(
        portal_env,
        store_id,
        status=StoreStatus.READY,
        health="degraded",
        ready_at=utcnow(),
        conditions=READY,
        message="Degraded: shoppers cannot use the store. Storefront: GET http://alices-shop.stores.localhost/ "
        "answered 502 Bad Gateway (expected 200).",
        shopper_status="failed",
        shopper_message="Storefront: GET http://alices-shop.stores.localhost/ answered 502 Bad Gateway (expected 200).",
        shopper_checked_at=utcnow(),
    )
    at = open_page("store", "alice", id=store_id)
    assert not at.exception
    body = texts(at)
    assert ":orange-badge[Ready: degraded]" in body
    assert "Shoppers cannot use the store" in body and "502 Bad Gateway" in body
    listing = open_page("stores", "alice")
    assert not listing.exception
    statuses = [v for d in listing.dataframe if "Status" in d.value.columns for v in d.value["Status"].tolist()]
    assert statuses == ["⚠️ Ready (degraded)"]
