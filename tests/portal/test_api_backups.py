"""The backup routes of the REST API, in-process: the API's own routes called through a
Starlette router with a bearer token (no server process, no bcrypt per call). Their
answers against the OpenAPI document are checked on the live server in test_openapi.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from portal.api import StoreApi
from provisioning.backups.commands import NOT_CONFIGURED
from provisioning.models import Backup, BackupStatus, StoreStatus, utcnow
from provisioning.platform import Platform
from tests.provisioning.observability.test_metrics import asgi_call
from tests.shared.platform import set_store, store_row
from tests.shared.portal import build_platform, portal_env

STORAGE = {
    "BACKUP_S3_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: no test reaches an object store
    "BACKUP_S3_ACCESS_KEY_ID": "k",
    "BACKUP_S3_SECRET_ACCESS_KEY": "s",
}


@dataclass
class Api:
    routes: list[Any]
    platform: Platform
    tokens: dict[str, str]

    def __call__(self, method: str, path: str, user: str = "alice", *, body: Any = None) -> tuple[int, Any]:
        sent = json.dumps(body).encode() if body is not None else b""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        status, answer = asgi_call(self.routes, method, path, headers, body=sent)
        return status, json.loads(answer)


def make_api(tmp_path: Path, **extra: str) -> Iterator[Api]:
    platform = build_platform(portal_env(tmp_path, **extra))
    users = ("alice", "bob")
    tokens = {name: platform.tokens.create_token(platform.users.get_actor(name), "t").token for name in users}
    yield Api(StoreApi(lambda: platform).routes(), platform, tokens)
    platform.db.dispose()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The API with backup storage configured."""
    yield from make_api(tmp_path, **STORAGE)


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Api]:
    """The API of a platform without backup storage."""
    yield from make_api(tmp_path)


def ready_store(api: Api) -> str:
    store = api.platform.stores.create_store(api.platform.users.get_actor("alice"), "alices-shop")
    set_store(api.platform.db, store.id, status=StoreStatus.READY)
    return store.id


def finish(api: Api, backup_id: str, status: BackupStatus, **values: object) -> None:
    """What the worker records when a backup's Job ends (a test's precondition)."""
    with Session(api.platform.db) as session:
        backup = session.get(Backup, backup_id)
        assert backup is not None
        backup.status, backup.finished_at = status, utcnow()
        for key, value in values.items():
            setattr(backup, key, value)
        session.add(backup)
        session.commit()


def test_without_storage_backing_up_and_restoring_say_what_to_configure(bare: Api) -> None:
    store_id = ready_store(bare)
    status, body = bare("POST", f"/api/stores/{store_id}/backups")
    assert (status, body) == (409, {"error": NOT_CONFIGURED})
    assert bare("POST", f"/api/stores/{store_id}/backups/{'0' * 32}/restore") == (409, {"error": NOT_CONFIGURED})
    clone = bare("POST", f"/api/stores/{store_id}/backups/{'0' * 32}/clone", body={"name": "copy"})
    assert clone == (409, {"error": NOT_CONFIGURED})
    assert bare("GET", f"/api/stores/{store_id}/backups") == (200, {"backups": [], "count": 0})


def test_back_up_list_and_restore(api: Api) -> None:
    store_id = ready_store(api)
    backups = f"/api/stores/{store_id}/backups"
    status, backup = api("POST", backups)
    assert status == 202, backup
    assert (backup["status"], backup["kind"], backup["requestedBy"], backup["storeId"]) == (
        "pending",
        "manual",
        "alice",
        store_id,
    )
    assert "location" not in backup and backup["sizeBytes"] is None and backup["finishedAt"] is None
    status, body = api("POST", backups)
    assert status == 409 and "already running" in body["error"]

    restore = f"{backups}/{backup['id']}/restore"
    status, body = api("POST", restore)
    assert status == 409 and "Only a successful backup" in body["error"]
    finish(api, backup["id"], BackupStatus.SUCCEEDED, size_bytes=4096, location="stores/x/y")
    status, listing = api("GET", backups)
    assert status == 200 and listing["count"] == 1
    [listed] = listing["backups"]
    assert (listed["status"], listed["sizeBytes"]) == ("succeeded", 4096) and listed["finishedAt"]
    assert "location" not in listed

    status, store = api("POST", restore)
    assert status == 202 and store["status"] == "restoring" and store["id"] == store_id, store
    assert (store["restore"]["backupId"], store["restore"]["phase"]) == (backup["id"], "stopping")
    assert api("GET", f"/api/stores/{store_id}")[1]["restore"]["phase"] == "stopping"
    assert store_row(api.platform.db, store_id).restore_backup_id == backup["id"]
    status, body = api("POST", backups)
    assert status == 409 and "being restored" in body["error"]


def test_a_failed_backup_cannot_be_restored(api: Api) -> None:
    store_id = ready_store(api)
    backup_id = api("POST", f"/api/stores/{store_id}/backups")[1]["id"]
    finish(api, backup_id, BackupStatus.FAILED, message="The dump Job failed.")
    status, body = api("POST", f"/api/stores/{store_id}/backups/{backup_id}/restore")
    assert status == 409 and "this one is failed" in body["error"]
    assert store_row(api.platform.db, store_id).status == StoreStatus.READY


def test_another_users_store_and_unknown_backups_are_not_found(api: Api) -> None:
    store_id = ready_store(api)
    backup_id = api("POST", f"/api/stores/{store_id}/backups")[1]["id"]
    for method, path in (
        ("GET", f"/api/stores/{store_id}/backups"),
        ("POST", f"/api/stores/{store_id}/backups"),
        ("POST", f"/api/stores/{store_id}/backups/{backup_id}/restore"),
        ("POST", f"/api/stores/{store_id}/backups/{backup_id}/clone"),
    ):
        status, body = api(method, path, user="bob", body={"name": "bobs-copy"})
        assert status == 404 and "not yours" in body["error"], (method, path)
    status, body = api("POST", f"/api/stores/{store_id}/backups/{'f' * 32}/restore")
    assert status == 404 and "No such backup" in body["error"]
    status, body = api("POST", f"/api/stores/{store_id}/backups/{'f' * 32}/clone", body={"name": "alices-copy"})
    assert status == 404 and "No such backup" in body["error"]


def succeeded_backup(api: Api, store_id: str) -> str:
    backup_id = api("POST", f"/api/stores/{store_id}/backups")[1]["id"]
    finish(api, backup_id, BackupStatus.SUCCEEDED, size_bytes=4096, location="stores/x/y")
    return backup_id


def test_clone_a_backup_into_a_new_store(api: Api) -> None:
    store_id = ready_store(api)
    backup_id = succeeded_backup(api, store_id)
    status, store = api("POST", f"/api/stores/{store_id}/backups/{backup_id}/clone", body={"name": "alices-copy"})
    assert status == 201, store
    assert (store["name"], store["status"], store["type"], store["createdBy"]) == (
        "alices-copy",
        "requested",
        "woocommerce",
        "alice",
    )
    assert store["id"] != store_id and store["restore"] is None
    assert store_row(api.platform.db, store["id"]).cloned_from == backup_id
    assert store_row(api.platform.db, store_id).status == StoreStatus.READY, "the source is left as it is"
    listed = {s["name"]: s for s in api("GET", "/api/stores")[1]["stores"]}
    assert listed["alices-copy"]["id"] == store["id"]

    status, body = api("POST", f"/api/stores/{store_id}/backups/{backup_id}/clone", body={"name": "alices-copy"})
    assert status == 409 and "already exists" in body["error"], body


def test_clone_takes_the_sources_plan_or_the_one_asked_for(api: Api) -> None:
    store_id = ready_store(api)
    backup_id = succeeded_backup(api, store_id)
    source_plan = store_row(api.platform.db, store_id).plan
    clone = f"/api/stores/{store_id}/backups/{backup_id}/clone"
    status, same = api("POST", clone, body={"name": "copy-one"})
    assert status == 201 and store_row(api.platform.db, same["id"]).plan == source_plan, same
    status, body = api("POST", clone, body={"name": "copy-two", "plan": "no-such-plan"})
    assert status == 400 and body["field"] == "plan", body


def test_clone_refuses_a_bad_body_and_an_unfinished_backup(api: Api) -> None:
    store_id = ready_store(api)
    backup_id = api("POST", f"/api/stores/{store_id}/backups")[1]["id"]
    clone = f"/api/stores/{store_id}/backups/{backup_id}/clone"
    status, body = api("POST", clone, body={"name": "alices-copy"})
    assert status == 409 and "Only a successful backup" in body["error"], body
    finish(api, backup_id, BackupStatus.SUCCEEDED, size_bytes=4096, location="stores/x/y")
    status, body = api("POST", clone)  # no body: no name
    assert status == 400 and body["field"] == "name", body
    status, body = api("POST", clone, body={"name": "Bad_Name"})
    assert status == 400 and body["field"] == "name", body
    status, body = api("POST", clone, body=["alices-copy"])
    assert status == 400 and "JSON object" in body["error"], body
    assert [s["name"] for s in api("GET", "/api/stores")[1]["stores"]] == ["alices-shop"], "nothing was created"
