"""The REST API (`/api/stores`) against the real server process, with no cluster needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.shared.portal import build_platform, portal_env
from tests.shared.servers import api_request, run_portal

pytestmark = pytest.mark.process


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("api")
    # The portal's default reconciler setting, as `make run` starts it.
    env = portal_env(workdir, reconciler=None, inherit=True, MAX_STORES_PER_USER="2", MAX_FAILED_LOGINS="3")
    build_platform(env).db.dispose()
    with run_portal(env, workdir / "portal.log") as url:
        yield url


call = api_request


def test_health(api: str) -> None:
    assert call(api, "GET", "/api/health") == (200, {"status": "ok"})


def test_requests_without_valid_credentials_are_refused(api: str) -> None:
    status, body = call(api, "GET", "/api/stores")
    assert status == 401 and "HTTP Basic" in body["error"]
    status, body = call(api, "GET", "/api/stores", user="bob", password="wrong-password")
    assert status == 401 and "incorrect" in body["error"]


def test_create_list_get_delete_like_the_seed(api: str) -> None:
    status, store = call(api, "POST", "/api/stores", user="alice", body={"name": "api-shop", "type": "woocommerce"})
    assert status == 201, store
    assert store["name"] == "api-shop" and store["type"] == "woocommerce" and store["status"] == "requested"
    assert store["url"] == "http://api-shop.stores.localhost" and store["createdBy"] == "alice"
    assert store["namespace"].startswith("store-api-shop-")

    status, listing = call(api, "GET", "/api/stores", user="alice")
    assert status == 200 and listing["count"] == 1 and listing["stores"][0]["id"] == store["id"]
    assert call(api, "GET", "/api/stores", user="bob")[1] == {"stores": [], "count": 0}

    assert call(api, "GET", f"/api/stores/{store['id']}", user="alice")[0] == 200
    status, body = call(api, "GET", f"/api/stores/{store['id']}", user="bob")
    assert status == 404 and "not yours" in body["error"]
    assert call(api, "DELETE", f"/api/stores/{store['id']}", user="bob")[0] == 404
    status, body = call(api, "POST", f"/api/stores/{store['id']}/retry", user="alice")
    assert status == 409 and "Only failed stores" in body["error"]

    status, everything = call(api, "GET", "/api/stores?all=true", user="admin")
    assert status == 200 and [s["createdBy"] for s in everything["stores"]] == ["alice"]

    status, deleted = call(api, "DELETE", f"/api/stores/{store['id']}", user="alice")
    assert status == 202 and deleted["status"] == "deleting"
    assert call(api, "DELETE", f"/api/stores/{store['id']}", user="alice")[0] == 409


@pytest.mark.parametrize(
    ("payload", "status", "fragment", "field"),
    [
        ({"name": "Bad_Name"}, 400, "lowercase", "name"),
        ({}, 400, "Enter a store name", "name"),
        ({"name": "admin"}, 400, "reserved", "name"),
        ({"name": "shopify-shop", "type": "shopify"}, 400, "Unknown store type", "engine"),
        ({"name": "x-shop", "type": 5}, 400, "must be a string", "type"),
    ],
)
def test_bad_input_gets_a_specific_error(
    api: str, payload: dict[str, Any], status: int, fragment: str, field: str
) -> None:
    got, body = call(api, "POST", "/api/stores", user="bob", body=payload)
    assert got == status and fragment in body["error"] and body["field"] == field


def test_malformed_body_and_conflicts(api: str) -> None:
    assert call(api, "POST", "/api/stores", user="bob", raw=b"{not json")[0] == 400
    assert call(api, "POST", "/api/stores", user="bob", raw=b"[1, 2]")[0] == 400
    assert call(api, "POST", "/api/stores", user="bob", body={"name": "bobs-one"})[0] == 201
    status, body = call(api, "POST", "/api/stores", user="admin", body={"name": "bobs-one"})
    assert status == 409 and "already exists" in body["error"]
    assert call(api, "POST", "/api/stores", user="bob", body={"name": "bobs-two"})[0] == 201
    status, body = call(api, "POST", "/api/stores", user="bob", body={"name": "bobs-three"})
    assert status == 429 and "2 of 2" in body["error"]


def test_api_sign_in_shares_the_lockout(api: str, tmp_path: Path) -> None:
    for _ in range(3):
        call(api, "GET", "/api/stores", user="admin", password="wrong-password")
    status, body = call(api, "GET", "/api/stores", user="admin")
    assert status == 401 and "locked" in body["error"]
