"""The upgrade routes of the REST API, in-process (as test_api_backups.py): administrators
only, 409 without backup storage or for a store already current, 202 with the store
`upgrading`. Their answers against the OpenAPI document are checked in test_openapi.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.api import StoreApi
from provisioning.catalog import versions
from provisioning.models import StoreStatus
from tests.portal.test_api_backups import STORAGE, Api
from tests.shared.platform import set_store, store_row
from tests.shared.portal import build_platform, portal_env

OLD_WORDPRESS = "wordpress:6.0.0-php8.1-apache"


def make_api(tmp_path: Path, **extra: str) -> Iterator[Api]:
    """The API with tokens for alice, bob and the admin."""
    platform = build_platform(portal_env(tmp_path, **extra))
    users = ("alice", "bob", "admin")
    tokens = {name: platform.tokens.create_token(platform.users.get_actor(name), "t").token for name in users}
    yield Api(StoreApi(lambda: platform).routes(), platform, tokens)
    platform.db.dispose()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from make_api(tmp_path, **STORAGE)


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Api]:
    """Without backup storage: an upgrade, which backs up first, is refused."""
    yield from make_api(tmp_path)


def ready_store(api: Api, name: str = "alices-shop", *, outdated: bool = True) -> str:
    store = api.platform.stores.create_store(api.platform.users.get_actor("alice"), name)
    pinned = versions.pinned(api.platform.settings, "woocommerce")
    recorded = pinned | {"wordpress": OLD_WORDPRESS} if outdated else pinned
    set_store(api.platform.db, store.id, status=StoreStatus.READY, versions=recorded)
    return store.id


def test_only_administrators_see_or_start_upgrades(api: Api) -> None:
    store_id = ready_store(api)
    for method, path in (
        ("GET", "/api/admin/upgrades"),
        ("POST", "/api/admin/upgrades"),
        ("POST", f"/api/stores/{store_id}/upgrade"),
    ):
        assert api(method, path) == (403, {"error": "Only administrators can do that."}), (method, path)
    assert store_row(api.platform.db, store_id).status == StoreStatus.READY


def test_without_storage_upgrading_says_what_to_configure(bare: Api) -> None:
    store_id = ready_store(bare)
    status, body = bare("POST", f"/api/stores/{store_id}/upgrade", user="admin")
    assert status == 409 and "An upgrade takes a backup first" in body["error"], body
    assert "BACKUP_S3_ENDPOINT" in body["error"]
    status, body = bare("POST", "/api/admin/upgrades", user="admin")
    assert status == 409 and "BACKUP_S3_ENDPOINT" in body["error"], body
    assert bare("GET", "/api/admin/upgrades", user="admin")[1]["count"] == 1, "the list needs no storage"


def test_the_list_shows_each_change_and_the_store_its_versions(api: Api) -> None:
    store_id = ready_store(api)
    ready_store(api, "current-shop", outdated=False)
    status, body = api("GET", "/api/admin/upgrades", user="admin")
    assert status == 200 and body["count"] == 1, body
    [outdated] = body["stores"]
    pin = api.platform.settings.wordpress_image
    assert outdated == {
        "id": store_id,
        "name": "alices-shop",
        "owner": "alice",
        "engine": "woocommerce",
        "status": "ready",
        "changes": [{"component": "wordpress", "from": OLD_WORDPRESS, "to": pin}],
    }
    status, store = api("GET", f"/api/stores/{store_id}")
    assert status == 200 and store["versions"]["wordpress"] == OLD_WORDPRESS and store["upgrade"] is None
    listed = api("GET", "/api/stores")[1]["stores"][0]
    assert "versions" not in listed, "list rows carry the summary columns only"


def test_upgrade_one_then_it_is_upgrading_and_cannot_be_queued_twice(api: Api) -> None:
    store_id = ready_store(api)
    status, store = api("POST", f"/api/stores/{store_id}/upgrade", user="admin")
    assert status == 202 and store["status"] == "upgrading", store
    upgrade = store["upgrade"]
    pin = api.platform.settings.wordpress_image
    assert (upgrade["phase"], upgrade["from"]["wordpress"]) == ("queued", OLD_WORDPRESS)
    assert upgrade["to"]["wordpress"] == pin
    assert upgrade["since"]
    assert api("GET", f"/api/stores/{store_id}")[1]["upgrade"]["phase"] == "queued", "the owner sees it too"
    status, body = api("POST", f"/api/stores/{store_id}/upgrade", user="admin")
    assert status == 409 and "already being upgraded" in body["error"], body
    assert api("GET", "/api/admin/upgrades", user="admin")[1]["stores"][0]["status"] == "upgrading"


def test_a_store_on_todays_versions_or_unknown_is_refused(api: Api) -> None:
    store_id = ready_store(api, outdated=False)
    status, body = api("POST", f"/api/stores/{store_id}/upgrade", user="admin")
    assert (status, body) == (409, {"error": "This store already runs the current versions."})
    status, body = api("POST", f"/api/stores/{'f' * 32}/upgrade", user="admin")
    assert status == 404, body


def test_upgrade_all_queues_the_ready_outdated_stores(api: Api) -> None:
    ready = ready_store(api)
    busy = ready_store(api, "busy-shop")
    set_store(api.platform.db, busy, status=StoreStatus.SUSPENDED)
    ready_store(api, "current-shop", outdated=False)
    assert api("POST", "/api/admin/upgrades", user="admin") == (202, {"queued": ["alices-shop"]})
    assert store_row(api.platform.db, ready).status == StoreStatus.UPGRADING
    assert store_row(api.platform.db, busy).status == StoreStatus.SUSPENDED, "left for later"
    assert api("POST", "/api/admin/upgrades", user="admin") == (202, {"queued": []})
