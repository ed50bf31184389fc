"""A real Medusa store, set up the way the setup Job does it, takes a shopper's order.

The store is built from images/medusa/ (tools/medusa/build.sh), set up twice with
bin/store-setup against a real PostgreSQL and Redis with the pods' environment contract,
started with bin/store-start, and then used through its HTTP APIs only: the shopper buys
through the Store API with the platform's publishable key, the admin finds the order.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest

from tests.shared.servers import free_port
from tests.store_software.conftest import Shop, new_database
from tests.store_software.medusa import (
    MedusaBuild,
    Postgres,
    Response,
    http,
    run_setup,
    secrets_in,
    store_environment,
)

pytestmark = [pytest.mark.store_software, pytest.mark.slow, pytest.mark.timeout(1800)]

# What the seed creates, in images/medusa/src/scripts/seed.ts.
PRODUCT_TITLE = "Sample product"
PRODUCT_PRICE_EUR = 20
SHIPPING_PRICE_EUR = 10
SEED_CREATED = re.compile(r"seed: .*\b(created|updated|linked|set to)\b")


def ok(response: Response, status: int = 200) -> Any:
    """The body of a response that must have ``status``; the whole body otherwise."""
    assert response.status == status, f"HTTP {response.status}: {response.body}"
    return response.body


class StoreApi:
    """The Store API as a storefront calls it: every request carries the publishable key."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.headers = {"x-publishable-api-key": key}

    def get(self, path: str) -> Any:
        return ok(http("GET", self.url + path, headers=self.headers))

    def post(self, path: str, body: object) -> Any:
        return ok(http("POST", self.url + path, body=body, headers=self.headers))


def place_order(url: str, key: str, email: str) -> dict[str, Any]:
    """A shopper's whole path from the region list to a completed cart; returns the order."""
    api = StoreApi(url, key)
    regions = api.get("/store/regions")["regions"]
    region = next(r for r in regions if r["name"] == "Europe")
    assert region["currency_code"] == "eur"

    products = api.get(f"/store/products?region_id={region['id']}&fields=*variants.calculated_price")["products"]
    product = next(p for p in products if p["title"] == PRODUCT_TITLE)
    variant = product["variants"][0]
    assert variant["calculated_price"]["calculated_amount"] == PRODUCT_PRICE_EUR

    cart = api.post("/store/carts", {"region_id": region["id"]})["cart"]
    cart = api.post(f"/store/carts/{cart['id']}/line-items", {"variant_id": variant["id"], "quantity": 1})["cart"]
    address = {
        "first_name": "Test",
        "last_name": "Shopper",
        "address_1": "Nyhavn 1",
        "city": "Copenhagen",
        "postal_code": "1051",
        "country_code": "dk",
    }
    cart = api.post(
        f"/store/carts/{cart['id']}", {"email": email, "shipping_address": address, "billing_address": address}
    )["cart"]

    options = api.get(f"/store/shipping-options?cart_id={cart['id']}")["shipping_options"]
    option = next(o for o in options if o["name"] == "Standard Shipping")
    cart = api.post(f"/store/carts/{cart['id']}/shipping-methods", {"option_id": option["id"]})["cart"]
    assert cart["total"] == PRODUCT_PRICE_EUR + SHIPPING_PRICE_EUR

    collection = api.post("/store/payment-collections", {"cart_id": cart["id"]})["payment_collection"]
    api.post(f"/store/payment-collections/{collection['id']}/payment-sessions", {"provider_id": "pp_system_default"})

    completed = api.post(f"/store/carts/{cart['id']}/complete", {})
    assert completed["type"] == "order", completed
    order: dict[str, Any] = completed["order"]
    return order


def admin_token(url: str, email: str, password: str) -> str:
    body = ok(http("POST", f"{url}/auth/user/emailpass", body={"email": email, "password": password}))
    token: str = body["token"]
    return token


# -- setup ------------------------------------------------------------------------------------


def test_setup_twice_changes_nothing_the_second_time(shop: Shop) -> None:
    first, second = shop.runs
    assert first.returncode == second.returncode == 0
    assert shop.counts[0] == shop.counts[1], "the second setup run created or removed objects"
    once = {"stores", "regions", "stock locations", "fulfillment sets", "products", "variants", "users"}
    assert {label: shop.counts[1][label] for label in once} == dict.fromkeys(once, 1)
    assert shop.counts[1]["tax regions"] == 7  # one per country of the region
    assert shop.counts[1]["inventory levels"] == 1
    assert SEED_CREATED.search(first.stdout), "the first run should report what it created"
    assert not SEED_CREATED.search(second.stdout), "the second run changed something:\n" + second.stdout[-3000:]
    assert "store-setup: store is set up" in second.stdout


def test_the_platforms_key_is_the_stores_only_key_on_the_default_channel(shop: Shop) -> None:
    """The key the platform generated is the live key, linked to the store's default channel."""
    linked = shop.postgres.scalar(
        shop.database,
        "SELECT count(*) FROM api_key k "
        "JOIN publishable_api_key_sales_channel l ON l.publishable_key_id = k.id AND l.deleted_at IS NULL "
        "JOIN store s ON s.default_sales_channel_id = l.sales_channel_id AND s.deleted_at IS NULL "
        "WHERE k.token = %s AND k.type = 'publishable' AND k.revoked_at IS NULL AND k.deleted_at IS NULL",
        (shop.key,),
    )
    assert linked == 1
    assert shop.counts[1]["publishable keys"] == 1, "Medusa's own default key should have been adopted"


def test_setup_output_and_server_log_hold_no_secret(shop: Shop) -> None:
    for run in shop.runs:
        assert secrets_in(run.output, shop.env) == []
    assert secrets_in(shop.server.log.read_text(errors="replace"), shop.env) == []


def test_setup_failure_ends_with_one_line_a_person_can_act_on(medusa_build: MedusaBuild, postgres: Postgres) -> None:
    _, url = new_database(postgres)
    wrong = url.replace("@", "x@", 1)  # the right user, a wrong password
    env = store_environment(medusa_build, database_url=wrong, redis_url=None, port=free_port(), config_home="/tmp")
    run = run_setup(medusa_build, env, timeout=300)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("store-setup: database migrations failed")
    assert "PostgreSQL rejected the login" in last
    assert secrets_in(run.output, env) == []


def test_setup_refuses_to_start_without_a_required_variable(medusa_build: MedusaBuild) -> None:
    env = store_environment(
        medusa_build, database_url="postgres://u:p@127.0.0.1:1/db", redis_url=None, port=1, config_home="/tmp"
    )
    del env["MEDUSA_PUBLISHABLE_KEY"]
    run = run_setup(medusa_build, env, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == (
        "store-setup: MEDUSA_PUBLISHABLE_KEY is not set; the store's Secret must provide it"
    )


# -- the running store ------------------------------------------------------------------------


def test_health_answers_200(shop: Shop) -> None:
    assert http("GET", f"{shop.url}/health").status == 200


def test_store_api_needs_the_platforms_key(shop: Shop) -> None:
    assert http("GET", f"{shop.url}/store/products").status == 400
    other = {"x-publishable-api-key": "pk_" + secrets.token_hex(32)}
    assert http("GET", f"{shop.url}/store/products", headers=other).status == 400
    products = ok(http("GET", f"{shop.url}/store/products", headers={"x-publishable-api-key": shop.key}))
    assert [p["title"] for p in products["products"]] == [PRODUCT_TITLE]


def test_shopper_orders_and_the_admin_sees_the_order(shop: Shop) -> None:
    email = f"shopper-{secrets.token_hex(4)}@example.com"
    order = place_order(shop.url, shop.key, email)
    assert order["email"] == email
    assert order["total"] == PRODUCT_PRICE_EUR + SHIPPING_PRICE_EUR

    token = admin_token(shop.url, shop.env["MEDUSA_ADMIN_EMAIL"], shop.env["MEDUSA_ADMIN_PASSWORD"])
    listed = ok(
        http(
            "GET",
            f"{shop.url}/admin/orders?fields=id,email,total,display_id&limit=50",
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    found = [o for o in listed["orders"] if o["id"] == order["id"]]
    assert len(found) == 1
    assert found[0]["email"] == email
    assert found[0]["total"] == PRODUCT_PRICE_EUR + SHIPPING_PRICE_EUR


def test_admin_login_is_refused_with_a_wrong_password(shop: Shop) -> None:
    response = http(
        "POST", f"{shop.url}/auth/user/emailpass", body={"email": shop.env["MEDUSA_ADMIN_EMAIL"], "password": "wrong"}
    )
    assert response.status == 401


def test_insecure_cookies_setting_drops_secure_from_the_admin_session_cookie(shop: Shop) -> None:
    """MEDUSA_INSECURE_COOKIES=true (local http only): the session cookie works without TLS."""
    token = admin_token(shop.url, shop.env["MEDUSA_ADMIN_EMAIL"], shop.env["MEDUSA_ADMIN_PASSWORD"])
    response = http("POST", f"{shop.url}/auth/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, response.body
    cookie = next(v for k, v in response.headers.items() if k.lower() == "set-cookie")
    assert cookie.startswith("connect.sid=")
    assert "secure" not in cookie.lower()
