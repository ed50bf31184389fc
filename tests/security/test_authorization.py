"""The authorization matrix: owner, other user, admin, anonymous x list, view, reveal the
admin password, retry, delete, admin page; through the service layer (SQLite and
PostgreSQL), through the pages (AppTest, routed by app.py, including tampered query
parameters and replayed clicks) and through the REST API (the real server process).

A store that is not yours does not exist for you: the service answers NotFoundError (the
API 404) rather than "forbidden", so store ids of others leak nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from provisioning.actors import Actor
from provisioning.errors import NotFoundError, PermissionDeniedError
from provisioning.models import Role, Store, StoreStatus
from provisioning.platform import Platform
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.security.conftest import (
    FAKE_ADMIN_PASSWORD,
    PAGES,
    SecretReads,
    everything_shown,
    open_page,
    secrets_of,
)
from tests.shared.platform import audit_actions, store_row
from tests.shared.portal import build_platform, portal_env
from tests.shared.servers import api_request, run_portal

ACTIONS = ("list", "view", "reveal", "retry", "delete", "admin")
# What each kind of actor gets for each action on alice's store.
EXPECTED: dict[str, dict[str, str]] = {
    "owner": {
        "list": "allowed",
        "view": "allowed",
        "reveal": "allowed",
        "retry": "allowed",
        "delete": "allowed",
        "admin": "refused",
    },
    "other": {
        "list": "hidden",
        "view": "hidden",
        "reveal": "hidden",
        "retry": "hidden",
        "delete": "hidden",
        "admin": "refused",
    },
    "admin": {
        "list": "allowed",
        "view": "allowed",
        "reveal": "allowed",
        "retry": "allowed",
        "delete": "allowed",
        "admin": "allowed",
    },
}


def fail_store(db: Engine, store_id: str) -> None:
    with Session(db) as session:
        session.execute(
            update(Store)
            .where(Store.id == store_id)  # type: ignore[arg-type]
            .values(status=StoreStatus.FAILED, health="erroring", message="Not ready after 10 minutes. Test.")
        )
        session.commit()


row = store_row


class RecordingSecrets:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        self.calls.append((namespace, name, key))
        return FAKE_ADMIN_PASSWORD


# -- service layer ---------------------------------------------------------------------------


def service_outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except NotFoundError:
        return "hidden"
    except PermissionDeniedError:
        return "refused"
    return "allowed"


@pytest.mark.parametrize("who", ["owner", "other", "admin"])
def test_service_layer_matrix(
    who: str, db: Engine, settings: Settings, users: UserService, admin: Actor, alice: Actor, bob: Actor
) -> None:
    secrets = RecordingSecrets()
    service = StoreService(db, settings, secrets=secrets)
    store = service.create_store(alice, "alices-shop")
    actor = {"owner": alice, "other": bob, "admin": admin}[who]
    before = row(db, store.id)

    def listing() -> None:
        if actor.is_admin:
            ids = [r.id for r in service.list_all_stores(actor)[0]]
        else:
            ids = [r.id for r in service.list_stores(actor)]
        if store.id not in ids:
            raise NotFoundError("not in the list")

    def retry() -> None:
        fail_store(db, store.id)
        try:
            service.retry_store(actor, store.id)
        finally:
            if row(db, store.id).status == StoreStatus.FAILED:
                fail_store(db, store.id)

    def admin_page() -> None:
        """Everything the Admin page does, each call on its own."""
        outcomes = {
            service_outcome(call)
            for call in (
                lambda: service.list_all_stores(actor),
                lambda: service.store_stats(actor),
                lambda: service.audit_log(actor),
                lambda: users.list_users(actor),
                lambda: users.create_user(actor, f"made-by-{who}", "made-by-password-1"),
                lambda: users.set_disabled(actor, "bob", False),
                lambda: users.reset_password(actor, "bob", "bob-password-12"),
            )
        }
        assert len(outcomes) == 1, f"the admin calls disagree: {outcomes}"
        if outcomes == {"refused"}:
            raise PermissionDeniedError("not an admin")

    calls: dict[str, Callable[[], Any]] = {
        "list": listing,
        "view": lambda: service.get_store(actor, store.id),
        "reveal": lambda: service.reveal_admin_password(actor, store.id),
        "retry": retry,
        "delete": lambda: service.delete_store(actor, store.id),
        "admin": admin_page,
    }
    got = {action: service_outcome(calls[action]) for action in ACTIONS}
    assert got == EXPECTED[who]

    if who == "other":
        after = row(db, store.id)
        assert after.status == StoreStatus.FAILED and after.active_name == before.active_name
        assert after.deleting_started_at is None and after.attempts == before.attempts
        assert secrets.calls == [], "the Secret was read for someone who may not see the store"
        assert audit_actions(db, store.id) == ["store.create"]
        with pytest.raises(NotFoundError):  # the audit trail of another user's store is hidden too
            service.audit_log(actor, store_id=store.id)
        with pytest.raises(NotFoundError):
            service.store_insight(actor, store.id)
        with pytest.raises(NotFoundError):
            service.store_logs(actor, store.id)
    else:
        assert secrets.calls == [(store.namespace, "store-credentials", "wordpress-admin-password")]
        assert "store.reveal_password" in audit_actions(db, store.id)
        assert row(db, store.id).status == StoreStatus.DELETING


def test_forged_or_stale_actors_get_nothing(db: Engine, settings: Settings, users: UserService, alice: Actor) -> None:
    """An Actor is built server-side from the users table; one for a user who does not
    exist (or no longer may act) can neither create nor see stores."""
    service = StoreService(db, settings)
    store = service.create_store(alice, "alices-shop")
    ghost = Actor(id=10_000, username="ghost", role=Role.USER)
    assert service_outcome(lambda: service.create_store(ghost, "ghost-shop")) == "refused"
    assert service_outcome(lambda: service.get_store(ghost, store.id)) == "hidden"
    assert service.list_stores(ghost) == []
    users.set_disabled(users.get_actor("admin"), "alice", True)
    assert service_outcome(lambda: service.create_store(alice, "after-disable")) == "refused"


# -- pages (AppTest through app.py) ----------------------------------------------------------


@pytest.fixture
def stores(portal: Platform) -> dict[str, Store]:
    alice, bob = portal.users.get_actor("alice"), portal.users.get_actor("bob")
    return {
        "alice": portal.stores.create_store(alice, "alices-shop"),
        "bob": portal.stores.create_store(bob, "bobs-shop"),
    }


def page_outcomes(portal: Platform, username: str | None, store: Store, secret_reads: SecretReads) -> dict[str, str]:
    """Drive the pages as `username` against `store`; what each action amounts to."""
    fail_store(portal.db, store.id)
    got: dict[str, str] = {}

    listing = open_page(portal, None, username)
    if username is None:
        got["list"] = "login only" if listing.text_input and not listing.dataframe else "leak"
    elif username == "admin":
        admin_view = open_page(portal, "admin", username)
        got["list"] = "allowed" if store.name in everything_shown(admin_view) else "hidden"
    else:
        got["list"] = "allowed" if store.name in everything_shown(listing) else "hidden"

    page = open_page(portal, None if username is None else "store", username, id=store.id)
    shown = everything_shown(page)
    assert not page.exception, page.exception
    if username is None:
        leaked = [s for s in secrets_of(store) if s in shown]
        outcome = "login only" if not leaked and page.text_input else f"leak {leaked}"
        return {action: outcome for action in ACTIONS}
    visible = f"Store {store.name}" in shown
    got["view"] = "allowed" if visible else "hidden"
    if not visible:
        leaked = [s for s in secrets_of(store) if s in shown]
        assert not leaked, f"{username} sees {leaked} of a store that is not theirs"
        assert "does not exist or is not yours" in shown
        keys = {b.key for b in page.button}
        assert not keys & {"reveal", "retry", "delete", "load_insight", "load_logs"}, keys
        got.update(reveal="hidden", retry="hidden", delete="hidden")
    else:
        reads = len(secret_reads.calls)
        page.button(key="reveal").click().run()
        revealed = FAKE_ADMIN_PASSWORD in [c.value for c in page.code]
        got["reveal"] = "allowed" if revealed and len(secret_reads.calls) == reads + 1 else "hidden"
        page.button(key="retry").click().run()
        got["retry"] = "allowed" if row(portal.db, store.id).status == StoreStatus.REQUESTED else "hidden"
        page.text_input(key="confirm_delete").input(store.name).run()
        page.button(key="delete").click().run()
        got["delete"] = "allowed" if row(portal.db, store.id).status == StoreStatus.DELETING else "hidden"
    registered = [str(info.get("script_path")) for info in page._registered_pages.values()]
    got["admin"] = "allowed" if any(p.endswith(PAGES["admin"]) for p in registered) else "refused"
    return got


@pytest.mark.parametrize("who", ["owner", "other", "admin", "anonymous"])
def test_page_matrix(who: str, portal: Platform, stores: dict[str, Store], secret_reads: SecretReads) -> None:
    username = {"owner": "alice", "other": "bob", "admin": "admin", "anonymous": None}[who]
    got = page_outcomes(portal, username, stores["alice"], secret_reads)
    expected = EXPECTED.get(who) or {action: "login only" for action in ACTIONS}
    assert got == expected
    if who in ("other", "anonymous"):
        assert secret_reads.calls == []
        assert row(portal.db, stores["alice"].id).status == StoreStatus.FAILED
        assert audit_actions(portal.db, stores["alice"].id) == ["store.create"]


@pytest.mark.parametrize("button", ["reveal", "retry", "delete", "load_insight", "load_logs"])
def test_replayed_clicks_with_a_swapped_store_id_are_refused(
    button: str, portal: Platform, stores: dict[str, Store], secret_reads: SecretReads
) -> None:
    """Bob, on his own (failed) store's page, swaps ?id= for Alice's store and sends a click
    of one of his page's buttons with it (for delete, with Alice's store name typed in the
    confirmation box), all in one message, as a hostile client could."""
    alices = stores["alice"]
    fail_store(portal.db, stores["bob"].id)
    fail_store(portal.db, alices.id)
    page = open_page(portal, "store", "bob", id=stores["bob"].id)
    assert button in {b.key for b in page.button}
    if button == "delete":  # enable the button on Bob's page, then retarget the confirmation
        page.text_input(key="confirm_delete").input(stores["bob"].name).run()
        page.text_input(key="confirm_delete").set_value(alices.name)
    page.button(key=button).click()
    page.query_params["id"] = alices.id
    page.run()
    shown = everything_shown(page)
    assert not page.exception, page.exception
    assert "does not exist or is not yours" in shown
    assert not [s for s in secrets_of(alices) if s in shown]
    assert FAKE_ADMIN_PASSWORD not in shown
    assert secret_reads.calls == []
    assert row(portal.db, alices.id).status == StoreStatus.FAILED
    assert audit_actions(portal.db, alices.id) == ["store.create"]


def test_a_revealed_password_does_not_survive_a_change_of_user(
    portal: Platform, stores: dict[str, Store], secret_reads: SecretReads
) -> None:
    """Alice reveals her store's password; the same browser session then acts as Bob."""
    alices = stores["alice"]
    page = open_page(portal, "store", "alice", id=alices.id)
    page.button(key="reveal").click().run()
    assert FAKE_ADMIN_PASSWORD in [c.value for c in page.code]
    page.session_state["actor"] = portal.users.get_actor("bob")
    page.run()
    shown = everything_shown(page)
    assert FAKE_ADMIN_PASSWORD not in shown
    assert not [s for s in secrets_of(alices) if s in shown]
    assert "does not exist or is not yours" in shown


@pytest.mark.parametrize(
    "store_id",
    ["", "0" * 32, "' OR 1=1 --", "<script>alert(1)</script>", "../../etc/passwd", "a" * 5000, "\x00", "%00", "ü" * 32],
)
def test_any_store_id_in_the_query_string_is_handled(portal: Platform, stores: dict[str, Store], store_id: str) -> None:
    page = open_page(portal, "store", "bob", id=store_id)
    assert not page.exception, page.exception
    shown = everything_shown(page)
    assert not [s for s in secrets_of(stores["alice"]) if s in shown]
    assert "does not exist or is not yours" in shown or "Choose a store" in shown


def test_page_files_run_on_their_own_check_the_user(portal: Platform, stores: dict[str, Store]) -> None:
    """Before the first st.navigation call of a server process, Streamlit runs a page file
    named in the URL by itself (its pages/ folder rule), without app.py's sign-in. Each
    page must therefore refuse on its own: anonymous sessions, and non-admins on Admin."""
    from streamlit.testing.v1 import AppTest

    from tests.reliability.support import ROOT

    for page in PAGES.values():
        direct = AppTest.from_file(str(ROOT / page), default_timeout=30)
        direct.query_params["id"] = stores["alice"].id
        direct.run()
        assert not direct.exception, (page, direct.exception)
        assert [w.value for w in direct.warning] == ["Please sign in."], page
        assert not [s for s in secrets_of(stores["alice"]) if s in everything_shown(direct)], page
    admin_page = AppTest.from_file(str(ROOT / PAGES["admin"]), default_timeout=30)
    admin_page.session_state["actor"] = portal.users.get_actor("alice")
    admin_page.run()
    assert [e.value for e in admin_page.error] == ["Only administrators can open this page."]
    assert not admin_page.dataframe


# -- REST API (the real server) --------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("authz-api")
    platform = build_platform(env := portal_env(workdir, inherit=True))
    ids = {
        name: platform.stores.create_store(platform.users.get_actor("alice"), name).id
        for name in ("owner-shop", "other-shop", "admin-shop")
    }
    for store_id in ids.values():
        fail_store(platform.db, store_id)
    platform.db.dispose()
    with run_portal(env, workdir / "portal.log") as url:
        yield url, ids


def http(url: str, method: str, path: str, user: str | None) -> tuple[int, Any]:
    return api_request(url, method, path, user=user, body={} if method == "POST" else None)


API_STATUS = {200: "allowed", 202: "allowed", 401: "login only", 403: "refused", 404: "hidden"}


@pytest.mark.process
@pytest.mark.parametrize("who", ["owner", "other", "admin", "anonymous"])
def test_api_matrix(who: str, api: tuple[str, dict[str, str]]) -> None:
    url, ids = api
    user = {"owner": "alice", "other": "bob", "admin": "admin", "anonymous": None}[who]
    store_id = ids[f"{who}-shop"] if who != "anonymous" else ids["other-shop"]
    got: dict[str, str] = {}
    status, body = http(url, "GET", "/api/stores?all=1", user)
    if status == 200:
        got["list"] = "allowed" if store_id in [s["id"] for s in body["stores"]] else "hidden"
    else:
        got["list"] = API_STATUS.get(status, str(status))
    got["view"] = API_STATUS.get(http(url, "GET", f"/api/stores/{store_id}", user)[0], "?")
    # No route reveals a password: the API never carries secrets.
    reveal_status, reveal_body = http(url, "GET", f"/api/stores/{store_id}/password", user)
    offered = isinstance(reveal_body, dict) and reveal_status not in (404, 405)
    got["reveal"] = "not offered" if not offered else str(reveal_status)
    assert FAKE_ADMIN_PASSWORD not in str(reveal_body)
    got["retry"] = API_STATUS.get(http(url, "POST", f"/api/stores/{store_id}/retry", user)[0], "?")
    # Logs: hidden from others like the store; for those who may see it, the cluster answers
    # (503: this test's portal has no reachable cluster, which the store-logs tests cover).
    logs_status, logs_body = http(url, "GET", f"/api/stores/{store_id}/logs", user)
    assert logs_status == {"other": 404, "anonymous": 401}.get(who, 503), (logs_status, logs_body)
    got["delete"] = API_STATUS.get(http(url, "DELETE", f"/api/stores/{store_id}", user)[0], "?")
    if user is None:
        assert got == {"list": "login only", "view": "login only", "reveal": "not offered"} | {
            "retry": "login only",
            "delete": "login only",
        }
        return
    expected = {k: v for k, v in EXPECTED[who].items() if k != "admin"} | {"reveal": "not offered"}
    assert got == expected
    if who == "other":
        status, body = http(url, "GET", f"/api/stores/{store_id}", "alice")
        assert status == 200 and body["status"] == StoreStatus.FAILED, "Bob's calls changed Alice's store"


def test_page_matrix_covers_the_list_page_for_the_owner(portal: Platform, stores: dict[str, Store]) -> None:
    listing = open_page(portal, None, "alice")
    names = [n for d in listing.dataframe if "Store" in d.value.columns for n in d.value["Store"].tolist()]
    assert names == ["alices-shop"]
    other = open_page(portal, None, "bob")
    assert "alices-shop" not in everything_shown(other)
