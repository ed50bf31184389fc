"""Personal API tokens (`Authorization: Bearer spt_...`) on the real server process."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from provisioning.identity import TOKEN_PREFIX
from provisioning.models import ApiToken, AuditEvent, utcnow
from provisioning.platform import Platform
from tests.shared.portal import build_platform, portal_env
from tests.shared.servers import api_request, run_portal

pytestmark = pytest.mark.process


@dataclass
class Live:
    url: str
    platform: Platform  # the test's own services on the portal's database


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("api-tokens")
    env = portal_env(workdir, reconciler=False, inherit=True, MAX_FAILED_LOGINS="3")
    platform = build_platform(env)
    try:
        with run_portal(env, workdir / "portal.log") as url:
            yield Live(url, platform)
    finally:
        platform.db.dispose()


def new_token(live: Live, username: str, name: str, **kwargs: object) -> str:
    return live.platform.tokens.create_token(live.platform.users.get_actor(username), name, **kwargs).token


def challenge(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url + "/api/stores", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("WWW-Authenticate", "")


def test_a_token_works_on_every_route_as_its_owner(live: Live) -> None:
    alice, bob = new_token(live, "alice", "every-route"), new_token(live, "bob", "every-route")
    url = live.url
    status, store = api_request(url, "POST", "/api/stores", token=alice, body={"name": "token-shop"})
    assert status == 201 and store["createdBy"] == "alice", store
    status, listing = api_request(url, "GET", "/api/stores", token=alice)
    assert status == 200 and [s["id"] for s in listing["stores"]] == [store["id"]]
    assert api_request(url, "GET", "/api/stores", token=bob)[1] == {"stores": [], "count": 0}
    assert api_request(url, "GET", f"/api/stores/{store['id']}", token=alice)[0] == 200
    assert api_request(url, "GET", f"/api/stores/{store['id']}", token=bob)[0] == 404
    status, body = api_request(url, "POST", f"/api/stores/{store['id']}/retry", token=alice)
    assert status == 409 and "Only failed stores" in body["error"]
    status, body = api_request(url, "GET", f"/api/stores/{store['id']}/logs?tail=abc", token=alice)
    assert status == 400 and body["field"] == "tail"
    status, deleted = api_request(url, "DELETE", f"/api/stores/{store['id']}", token=alice)
    assert status == 202 and deleted["status"] == "deleting"
    # Basic stays, for compatibility.
    assert api_request(url, "GET", "/api/stores", user="alice")[0] == 200


def test_an_admin_token_acts_as_the_admin(live: Live) -> None:
    admin = new_token(live, "admin", "ops")
    status, body = api_request(live.url, "GET", "/api/stores?all=true", token=admin)
    assert status == 200 and isinstance(body["stores"], list)


def test_unknown_and_malformed_tokens_get_401_with_both_schemes(live: Live) -> None:
    for token in ("spt_" + "x" * 43, "spt_short", "not-a-token"):
        status, body = api_request(live.url, "GET", "/api/stores", token=token)
        assert status == 401 and "not valid" in body["error"]
    status, header = challenge(live.url, {"Authorization": "Bearer spt_" + "y" * 43})
    assert status == 401 and "Bearer" in header and "Basic" in header
    status, header = challenge(live.url, {})
    assert status == 401 and "Bearer" in header and "Basic" in header
    status, body = api_request(live.url, "GET", "/api/stores")
    assert status == 401 and "Bearer" in body["error"] and "HTTP Basic" in body["error"]


def test_revoked_and_expired_tokens_get_401_at_once(live: Live) -> None:
    alice = live.platform.users.get_actor("alice")
    new = live.platform.tokens.create_token(alice, "to-revoke")
    assert api_request(live.url, "GET", "/api/stores", token=new.token)[0] == 200
    live.platform.tokens.revoke_token(alice, new.info.id)
    status, body = api_request(live.url, "GET", "/api/stores", token=new.token)
    assert status == 401 and "revoked" in body["error"]

    soon = live.platform.tokens.create_token(alice, "to-expire", expires_at=utcnow() + timedelta(days=1))
    assert api_request(live.url, "GET", "/api/stores", token=soon.token)[0] == 200
    with Session(live.platform.db) as session:
        session.execute(
            update(ApiToken).where(col(ApiToken.id) == soon.info.id).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    status, body = api_request(live.url, "GET", "/api/stores", token=soon.token)
    assert status == 401 and "expired" in body["error"]


def test_a_disabled_users_tokens_get_401(live: Live) -> None:
    platform = live.platform
    admin = platform.users.get_actor("admin")
    platform.users.create_user(admin, "carol", "carol-password-1")
    token = new_token(live, "carol", "ci")
    assert api_request(live.url, "GET", "/api/stores", token=token)[0] == 200
    platform.users.set_disabled(admin, "carol", True)
    status, body = api_request(live.url, "GET", "/api/stores", token=token)
    assert status == 401 and "disabled" in body["error"]


def test_token_calls_record_last_use_not_a_sign_in_each(live: Live) -> None:
    platform = live.platform
    new = platform.tokens.create_token(platform.users.get_actor("bob"), "busy")
    with Session(platform.db) as session:
        logins_before = len(session.exec(select(AuditEvent.id).where(AuditEvent.action == "user.login")).all())
    for _ in range(5):
        assert api_request(live.url, "GET", "/api/stores", token=new.token)[0] == 200
    (info,) = [t for t in platform.tokens.list_tokens(platform.users.get_actor("bob")) if t.id == new.info.id]
    assert info.last_used_at is not None and utcnow() - info.last_used_at < timedelta(minutes=1)
    with Session(platform.db) as session:
        logins_after = len(session.exec(select(AuditEvent.id).where(AuditEvent.action == "user.login")).all())
    assert logins_after == logins_before
    assert new.token.startswith(TOKEN_PREFIX)
