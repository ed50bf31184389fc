"""`GET /api/openapi.json` against the real server: the document is valid OpenAPI 3.1, and
every route's live answers, successes and errors, match it (openapi-core)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_spec_validator import validate as validate_spec
from sqlalchemy import update
from sqlmodel import Session, col
from werkzeug.datastructures import Headers, ImmutableMultiDict

from portal.api import StoreApi
from portal.openapi import openapi_document
from provisioning.models import ApiToken, Backup, BackupStatus, Store, StoreStatus, utcnow
from provisioning.operations.store_logs import ContainerLog
from tests.shared.portal import PASSWORDS, build_platform, portal_env
from tests.shared.servers import run_portal


@dataclass
class LiveRequest:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str = "application/json"


@dataclass
class LiveResponse:
    status_code: int
    data: bytes
    headers: Headers
    content_type: str


@dataclass
class Checker:
    """Sends requests to the live portal and validates each answer against the document."""

    url: str
    spec: OpenAPI
    seen: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def __call__(
        self,
        method: str,
        path: str,
        operation: str,
        *,
        auth: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        valid_request: bool = True,
    ) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        call = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(call, timeout=30) as answer:
                status, payload, got = answer.status, answer.read(), Headers(list(answer.headers.items()))
        except urllib.error.HTTPError as error:
            status, payload, got = error.code, error.read(), Headers(list(error.headers.items()))
        parts = urllib.parse.urlsplit(path)
        request = LiveRequest(
            host_url=self.url,
            path=parts.path,
            method=method.lower(),
            parameters=RequestParameters(
                query=ImmutableMultiDict(urllib.parse.parse_qsl(parts.query)), header=Headers(headers)
            ),
            body=data,
        )
        response = LiveResponse(status, payload, got, got.get("content-type", ""))
        if valid_request:  # the request itself is what the document promises to serve
            self.spec.validate_request(request)
        self.spec.validate_response(request, response)
        self.seen[operation].add(status)
        return status, json.loads(payload)


def set_status(platform: Any, store_id: str, status: StoreStatus) -> None:
    with Session(platform.db) as session:
        session.execute(update(Store).where(col(Store.id) == store_id).values(status=status))
        session.commit()


def bearer(token: str) -> str:
    return f"Bearer {token}"


def basic(user: str, password: str | None = None) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    workdir = tmp_path_factory.mktemp("openapi")
    # Backup storage configured (nothing listens there; no reconciler runs to reach it), so
    # the backup routes can answer their successes; without storage they answer 409
    # (tests/portal/test_api_backups.py).
    storage = {
        "BACKUP_S3_ENDPOINT": "http://127.0.0.1:9",
        "BACKUP_S3_ACCESS_KEY_ID": "k",
        "BACKUP_S3_SECRET_ACCESS_KEY": "s",
    }
    env = portal_env(
        workdir, reconciler=False, inherit=True, MAX_STORES_PER_USER="2", ORDERABLE_PLANS="small,medium", **storage
    )
    platform = build_platform(env)
    try:
        with run_portal(env, workdir / "portal.log") as url:
            yield url, platform
    finally:
        platform.db.dispose()


def test_the_document_is_valid_openapi_3_1_and_served_without_credentials() -> None:
    document = openapi_document()
    validate_spec(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "basicAuth"}


def test_every_api_route_is_in_the_document_and_nothing_else() -> None:
    """A route added to portal/api.py needs its entry in portal/openapi.py (and a case in
    the live test below)."""
    served = {
        (route.path, method.lower())
        for route in StoreApi(lambda: None).routes()  # type: ignore[arg-type, return-value]
        for method in route.methods or ()
        if method != "HEAD"
    }
    paths = openapi_document()["paths"]
    documented = {(path, method) for path, item in paths.items() for method in item if method != "parameters"}
    assert served == documented


@pytest.mark.process
def test_every_route_answers_as_documented(live: tuple[str, Any]) -> None:
    url, platform = live
    with urllib.request.urlopen(url + "/api/openapi.json", timeout=30) as answer:
        served = json.loads(answer.read())
    assert served == openapi_document()
    validate_spec(served)
    check = Checker(url, OpenAPI.from_dict(served))

    alice_actor = platform.users.get_actor("alice")
    alice = bearer(platform.tokens.create_token(alice_actor, "openapi").token)
    admin = bearer(platform.tokens.create_token(platform.users.get_actor("admin"), "openapi").token)
    revoked = platform.tokens.create_token(alice_actor, "revoked")
    platform.tokens.revoke_token(alice_actor, revoked.info.id)
    expired = platform.tokens.create_token(alice_actor, "expired", expires_at=utcnow() + timedelta(days=1))
    with Session(platform.db) as session:
        session.execute(
            update(ApiToken).where(col(ApiToken.id) == expired.info.id).values(expires_at=utcnow() - timedelta(1))
        )
        session.commit()

    assert check("GET", "/api/health", "health")[0] == 200
    assert check("GET", "/api/openapi.json", "openapi")[0] == 200

    # Credentials: bearer and basic work; missing, unknown, revoked, expired, wrong get 401.
    assert check("GET", "/api/stores", "listStores", auth=alice)[0] == 200
    assert check("GET", "/api/stores", "listStores", auth=basic("bob"))[0] == 200
    assert check("GET", "/api/stores?all=true", "listStores", auth=admin)[0] == 200
    for refused in (
        None,
        bearer("spt_" + "z" * 43),
        bearer(revoked.token),
        bearer(expired.token),
        basic("bob", "wrong-password"),
    ):
        assert check("GET", "/api/stores", "listStores", auth=refused, valid_request=False)[0] == 401

    # Create: success, bad input (schema-valid and not), malformed JSON, name taken, limit.
    status, store = check("POST", "/api/stores", "createStore", auth=alice, body={"name": "spec-shop"})
    assert status == 201, store
    assert check("POST", "/api/stores", "createStore", auth=alice, body={"name": "Bad_Name"})[0] == 400
    assert store["plan"] == "small"  # the default plan
    large = {"name": "big-shop", "plan": "large"}
    assert check("POST", "/api/stores", "createStore", auth=alice, body=large)[0] == 403  # not orderable by users
    bad_type = {"name": "x-shop", "type": "shopify"}
    assert check("POST", "/api/stores", "createStore", auth=alice, body=bad_type, valid_request=False)[0] == 400
    assert check("POST", "/api/stores", "createStore", auth=alice, raw=b"{nope", valid_request=False)[0] == 400
    assert check("POST", "/api/stores", "createStore", auth=admin, body={"name": "spec-shop"})[0] == 409
    assert check("POST", "/api/stores", "createStore", auth=alice, body={"name": "spec-two"})[0] == 201
    assert check("POST", "/api/stores", "createStore", auth=alice, body={"name": "spec-three"})[0] == 429
    assert check("POST", "/api/stores", "createStore", valid_request=False, body={"name": "anon"})[0] == 401
    assert check("GET", "/api/stores", "listStores", auth=alice)[1]["count"] == 2

    one = f"/api/stores/{store['id']}"
    assert check("GET", one, "getStore", auth=alice)[0] == 200
    assert check("GET", "/api/stores/nope", "getStore", auth=alice)[0] == 404
    assert check("GET", one, "getStore", valid_request=False)[0] == 401

    assert check("POST", f"{one}/retry", "retryStore", auth=alice)[0] == 409
    assert check("POST", "/api/stores/nope/retry", "retryStore", auth=alice)[0] == 404
    with Session(platform.db) as session:
        session.execute(
            update(Store)
            .where(col(Store.id) == store["id"])
            .values(status=StoreStatus.FAILED, message="Setup failed.", failure_kind="setup")
        )
        session.commit()
    assert check("POST", f"{one}/retry", "retryStore", auth=alice)[0] == 202
    assert check("POST", f"{one}/retry", "retryStore", valid_request=False)[0] == 401

    # Logs: no cluster here, so the live success is a 503 that says so; errors as documented.
    status, body = check("GET", f"{one}/logs?tail=5", "storeLogs", auth=alice)
    assert status == 503, body
    assert check("GET", f"{one}/logs?tail=abc", "storeLogs", auth=alice, valid_request=False)[0] == 400
    assert check("GET", "/api/stores/nope/logs", "storeLogs", auth=alice)[0] == 404

    # Change plan: only a ready store, only to a plan the user may order, volumes never shrink.
    plan = f"{one}/plan"
    assert check("POST", plan, "changeStorePlan", auth=alice, body={"plan": "medium"})[0] == 409  # not ready
    assert check("POST", "/api/stores/nope/plan", "changeStorePlan", auth=alice, body={"plan": "medium"})[0] == 404
    with Session(platform.db) as session:
        session.execute(update(Store).where(col(Store.id) == store["id"]).values(status=StoreStatus.READY))
        session.commit()
    assert check("POST", plan, "changeStorePlan", auth=alice, body={"plan": "gold"})[0] == 400
    assert check("POST", plan, "changeStorePlan", auth=alice, body={}, valid_request=False)[0] == 400
    assert check("POST", plan, "changeStorePlan", auth=alice, body={"plan": "large"})[0] == 403
    status, resized = check("POST", plan, "changeStorePlan", auth=admin, body={"plan": "large"})
    assert status == 202 and resized["status"] == "resizing" and resized["plan"] == "large", resized
    grown = {"database": "20Gi", "uploads": "20Gi"}  # what the reconciler records once the volumes grew
    with Session(platform.db) as session:
        session.execute(
            update(Store).where(col(Store.id) == store["id"]).values(status=StoreStatus.READY, volume_sizes=grown)
        )
        session.commit()
    status, shrink = check("POST", plan, "changeStorePlan", auth=alice, body={"plan": "medium"})
    assert status == 409 and "Volumes never shrink" in shrink["error"], shrink
    assert check("POST", plan, "changeStorePlan", valid_request=False, body={"plan": "small"})[0] == 401
    with Session(platform.db) as session:  # back to where the retry left it
        session.execute(update(Store).where(col(Store.id) == store["id"]).values(status=StoreStatus.REQUESTED))
        session.commit()

    # Suspend and resume: only from ready and suspended; an administrator gives a reason,
    # and then only an administrator may resume.
    assert check("POST", f"{one}/suspend", "suspendStore", auth=alice)[0] == 409  # still provisioning
    assert check("POST", "/api/stores/nope/suspend", "suspendStore", auth=alice)[0] == 404
    with Session(platform.db) as session:
        session.execute(update(Store).where(col(Store.id) == store["id"]).values(status=StoreStatus.READY))
        session.commit()
    assert check("POST", f"{one}/suspend", "suspendStore", auth=admin, body={})[0] == 400  # no reason
    status, suspended = check("POST", f"{one}/suspend", "suspendStore", auth=admin, body={"reason": "Spam"})
    assert status == 202 and suspended["status"] == "suspending", suspended
    assert suspended["suspension"]["byAdmin"] and suspended["suspension"]["reason"] == "Spam"
    assert check("POST", f"{one}/resume", "resumeStore", auth=admin)[0] == 409  # still suspending
    with Session(platform.db) as session:
        session.execute(update(Store).where(col(Store.id) == store["id"]).values(status=StoreStatus.SUSPENDED))
        session.commit()
    assert check("GET", "/api/stores", "listStores", auth=alice)[1]["stores"][-1]["suspension"]["reason"] == "Spam"
    assert check("POST", f"{one}/resume", "resumeStore", auth=alice)[0] == 403
    status, resumed = check("POST", f"{one}/resume", "resumeStore", auth=admin)
    assert status == 202 and resumed["status"] == "resuming" and resumed["suspension"] is None, resumed

    # Backups: only a ready store, one at a time; only a succeeded backup is restored.
    backups = f"{one}/backups"
    assert check("POST", backups, "backUpStore", auth=alice)[0] == 409  # still resuming
    assert check("POST", "/api/stores/nope/backups", "backUpStore", auth=alice)[0] == 404
    assert check("GET", "/api/stores/nope/backups", "listBackups", auth=alice)[0] == 404
    set_status(platform, store["id"], StoreStatus.READY)
    status, backup = check("POST", backups, "backUpStore", auth=alice)
    assert status == 202 and backup["status"] == "pending", backup
    restore = f"{backups}/{backup['id']}/restore"
    assert check("POST", restore, "restoreBackup", auth=alice)[0] == 409  # not succeeded (yet)
    assert check("POST", f"{backups}/nope/restore", "restoreBackup", auth=alice)[0] == 404
    with Session(platform.db) as session:
        session.execute(
            update(Backup)
            .where(col(Backup.id) == backup["id"])
            .values(status=BackupStatus.SUCCEEDED, size_bytes=2048, started_at=utcnow(), finished_at=utcnow())
        )
        session.commit()
    status, listing = check("GET", backups, "listBackups", auth=alice)
    assert status == 200 and listing["backups"][0]["sizeBytes"] == 2048, listing
    status, restoring = check("POST", restore, "restoreBackup", auth=alice)
    assert status == 202 and restoring["status"] == "restoring", restoring
    assert check("POST", restore, "restoreBackup", valid_request=False)[0] == 401
    set_status(platform, store["id"], StoreStatus.READY)

    # Clone: a new store of the caller's from a succeeded backup, counted like any new store.
    clone = f"{backups}/{backup['id']}/clone"
    assert check("POST", clone, "cloneBackup", auth=alice, body={"name": "spec-copy"})[0] == 403  # source: large
    assert check("POST", clone, "cloneBackup", auth=alice, body={"name": "spec-copy", "plan": "small"})[0] == 429
    assert check("POST", clone, "cloneBackup", auth=admin, body={}, valid_request=False)[0] == 400  # no name
    assert check("POST", f"{backups}/nope/clone", "cloneBackup", auth=alice, body={"name": "spec-copy"})[0] == 404
    assert check("POST", clone, "cloneBackup", valid_request=False, body={"name": "spec-copy"})[0] == 401
    status, copy = check("POST", clone, "cloneBackup", auth=admin, body={"name": "spec-copy"})
    assert status == 201 and (copy["status"], copy["plan"], copy["createdBy"]) == ("requested", "large", "admin"), copy

    # Upgrades: administrators only; the store runs today's pins (409) until its recorded
    # versions are older; backup storage is configured here (its 409 is in test_api_upgrades.py).
    upgrade = f"{one}/upgrade"
    assert check("GET", "/api/admin/upgrades", "listOutdatedStores", auth=alice)[0] == 403
    assert check("POST", "/api/admin/upgrades", "upgradeAllStores", auth=alice)[0] == 403
    assert check("POST", upgrade, "upgradeStore", auth=alice)[0] == 403
    assert check("GET", "/api/admin/upgrades", "listOutdatedStores", valid_request=False)[0] == 401
    assert check("POST", "/api/admin/upgrades", "upgradeAllStores", valid_request=False)[0] == 401
    assert check("POST", upgrade, "upgradeStore", valid_request=False)[0] == 401
    status, current = check("POST", upgrade, "upgradeStore", auth=admin)
    assert status == 409 and "already runs the current versions" in current["error"], current
    assert check("POST", "/api/stores/nope/upgrade", "upgradeStore", auth=admin)[0] == 404
    assert check("POST", "/api/admin/upgrades", "upgradeAllStores", auth=admin) == (202, {"queued": []})
    assert check("GET", "/api/admin/upgrades", "listOutdatedStores", auth=admin) == (200, {"stores": [], "count": 0})
    with Session(platform.db) as session:
        row = session.get(Store, store["id"])
        assert row is not None
        row.versions = {**row.versions, "wordpress": "wordpress:6.0.0-php8.1-apache"}
        session.add(row)
        session.commit()
    status, outdated = check("GET", "/api/admin/upgrades", "listOutdatedStores", auth=admin)
    assert status == 200 and [s["name"] for s in outdated["stores"]] == ["spec-shop"], outdated
    status, upgrading = check("POST", upgrade, "upgradeStore", auth=admin)
    assert status == 202 and (upgrading["status"], upgrading["upgrade"]["phase"]) == ("upgrading", "queued"), upgrading
    assert check("GET", one, "getStore", auth=alice)[1]["upgrade"]["from"]["wordpress"].startswith("wordpress:6.0")
    assert check("POST", upgrade, "upgradeStore", auth=admin)[0] == 409  # already upgrading
    set_status(platform, store["id"], StoreStatus.READY)

    assert check("DELETE", one, "deleteStore", auth=alice)[0] == 202
    assert check("DELETE", one, "deleteStore", auth=alice)[0] == 409
    assert check("DELETE", "/api/stores/nope", "deleteStore", auth=alice)[0] == 404
    assert check("DELETE", one, "deleteStore", valid_request=False)[0] == 401
    with Session(platform.db) as session:
        session.execute(update(Store).where(col(Store.id) == store["id"]).values(status=StoreStatus.DELETED))
        session.commit()
    assert check("GET", f"{one}/logs", "storeLogs", auth=alice)[0] == 409

    operations = {
        op["operationId"] for item in served["paths"].values() for key, op in item.items() if key != "parameters"
    }
    assert set(check.seen) == operations, "every documented operation was called"
    for operation, statuses in check.seen.items():
        if operation not in ("health", "openapi"):
            assert any(400 <= s < 500 for s in statuses), (operation, statuses)
        if operation != "storeLogs":  # its success needs a cluster: checked below on the schema
            assert any(200 <= s < 300 for s in statuses), (operation, statuses)


def test_a_logs_answer_matches_the_document() -> None:
    """The 200 of /logs needs a cluster; its body, built as the API builds it, matches."""
    spec = OpenAPI.from_dict(openapi_document())
    logs = [ContainerLog("web-0", "wordpress", "line 1\n"), ContainerLog("setup-x", "setup", unavailable="gone")]
    body = json.dumps({"containers": [entry.as_json() for entry in logs]}).encode()
    request = LiveRequest(
        "http://portal", "/api/stores/abc/logs", "get", RequestParameters(header=Headers({"Authorization": "x"})), None
    )
    spec.validate_response(request, LiveResponse(200, body, Headers(), "application/json"))
