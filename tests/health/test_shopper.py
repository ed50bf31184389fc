"""The shopper-path check against a real HTTP server on this machine that routes by Host.

The server plays the ingress controller: it answers per virtual host, like nginx or
Traefik do for store Ingresses, and its default backend answers 404 for unknown hosts.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from provisioning.engines import get_engine
from provisioning.engines.base import ShopperRequest, StoreSpec
from provisioning.health.shopper import check_store
from provisioning.models import ShopperStatus
from tests.health.router import HostRouter, Route, _Handler, host_router
from tests.health.router import serve_woocommerce as serve_store

router = host_router

STORE_HOST = "my-shop.stores.test"
KEY = "pk_" + "ab" * 32


def woo_spec() -> StoreSpec:
    return StoreSpec("0" * 32, "my-shop", "store-my-shop-00000000", "alice", "woocommerce", "admin", "a@b.invalid")


def serve_woocommerce(router: HostRouter, *, products: str = '[{"id":10,"name":"Sample product"}]') -> None:
    serve_store(router, STORE_HOST, name="my-shop", products=products)


def no_secrets(key: str) -> str:
    raise AssertionError(f"no secret should be read, asked for {key}")


def check(router: HostRouter, requests: list[ShopperRequest], **kwargs: object) -> tuple[ShopperStatus, str]:
    result = check_store(router.url, STORE_HOST, requests, timeout=2.0, **{"secret": no_secrets, **kwargs})  # type: ignore[arg-type]
    return result.status, result.message


def test_a_working_woocommerce_store_passes_by_host_header(router: HostRouter) -> None:
    serve_woocommerce(router)
    status, message = check(router, get_engine("woocommerce").shopper_path(woo_spec()))
    assert status == ShopperStatus.PASSED, message
    assert [(host, path) for host, path, _ in router.seen] == [
        (STORE_HOST, "/"),
        (STORE_HOST, "/wp-json/wc/store/v1/products"),
    ]


def test_unknown_host_at_the_controller_fails_with_its_answer(router: HostRouter) -> None:
    router.routes[("other.stores.test", "/")] = Route(body="other store")
    status, message = check(router, get_engine("woocommerce").shopper_path(woo_spec()))
    assert status == ShopperStatus.FAILED
    assert "Storefront" in message and "answered 404" in message and "default backend" in message
    assert router.url.removeprefix("http://") in message  # says which address it went through


def test_a_database_error_page_fails_the_storefront(router: HostRouter) -> None:
    router.routes[(STORE_HOST, "/")] = Route(
        status=500,
        body="<html><head><title>Database Error</title></head>"
        "<body><h1>Error establishing a database connection</h1></body></html>",
    )
    status, message = check(router, get_engine("woocommerce").shopper_path(woo_spec()))
    assert status == ShopperStatus.FAILED
    assert "answered 500" in message and "Error establishing a database connection" in message


def test_a_store_without_its_product_fails_the_store_api(router: HostRouter) -> None:
    serve_woocommerce(router, products="[]")
    status, message = check(router, get_engine("woocommerce").shopper_path(woo_spec()))
    assert status == ShopperStatus.FAILED
    assert message.startswith("Store API products:") and "Sample product" in message


def test_a_redirect_is_reported_not_followed(router: HostRouter) -> None:
    router.routes[(STORE_HOST, "/")] = Route(status=301, headers={"Location": "https://my-shop.stores.test/"})
    status, message = check(router, [ShopperRequest("Storefront", "/")])
    assert status == ShopperStatus.FAILED
    assert "answered 301" in message and "redirecting to https://my-shop.stores.test/" in message


def test_nothing_listening_fails_with_the_connection_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]
    result = check_store(
        f"http://127.0.0.1:{port}", STORE_HOST, [ShopperRequest("Storefront", "/")], secret=no_secrets, timeout=2.0
    )
    assert result.status == ShopperStatus.FAILED
    assert "cannot connect" in result.message and "refused" in result.message.lower()


def test_a_secret_header_is_sent_but_never_reported(router: HostRouter) -> None:
    router.routes[(STORE_HOST, "/store/products")] = Route(
        body='{"products":[{"title":"Sample product"}]}', need_header=("x-publishable-api-key", KEY)
    )
    request = ShopperRequest(
        "Store API products",
        "/store/products",
        expect_text=("Sample product",),
        secret_headers=(("x-publishable-api-key", "medusa-publishable-key"),),
    )
    asked: list[str] = []

    def secret(key: str) -> str:
        asked.append(key)
        return KEY

    status, message = check(router, [request], secret=secret)
    assert status == ShopperStatus.PASSED, message
    assert asked == ["medusa-publishable-key"]

    def wrong(key: str) -> str:
        return "pk_wrong"

    status, message = check(router, [request], secret=wrong)
    assert status == ShopperStatus.FAILED
    assert "answered 400" in message and "pk_wrong" not in message and KEY not in message


def test_an_unreadable_secret_fails_without_sending(router: HostRouter) -> None:
    def missing(key: str) -> str:
        raise LookupError("the store's credentials are not there yet")

    request = ShopperRequest("Store API", "/x", secret_headers=(("x-key", "k"),))
    status, message = check(router, [request], secret=missing)
    assert status == ShopperStatus.FAILED and "cannot read the store's credentials" in message
    assert router.seen == []


def test_a_path_prefix_on_the_check_url_is_kept(router: HostRouter) -> None:
    router.routes[(STORE_HOST, "/edge/")] = Route(body="ok")
    result = check_store(
        f"{router.url}/edge", STORE_HOST, [ShopperRequest("Storefront", "/")], secret=no_secrets, timeout=2.0
    )
    assert result.status == ShopperStatus.PASSED, result.message


def test_a_url_that_is_not_http_is_refused_before_any_request() -> None:
    result = check_store("ftp://x", STORE_HOST, [ShopperRequest("Storefront", "/")], secret=no_secrets, timeout=1.0)
    assert result.status == ShopperStatus.FAILED and "not an http(s) URL" in result.message
