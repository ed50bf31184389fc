"""Suspend and resume on the store page, the list and the new-store form (AppTest)."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from provisioning.models import StoreStatus
from provisioning.platform import Platform
from tests.pages.conftest import actor
from tests.pages.test_page_states import set_state
from tests.shared.apptest import everything_shown
from tests.shared.platform import audit_actions, store_row

REASON = "Selling counterfeit goods"


def ready_store(platform: Platform, name: str = "alices-shop") -> str:
    store = platform.stores.create_store(actor(platform, "alice"), name)
    set_state(platform, store.id, status=StoreStatus.READY, message="Ready: open it")
    return store.id


def admin_suspended(platform: Platform, store_id: str) -> None:
    set_state(
        platform,
        store_id,
        status=StoreStatus.SUSPENDED,
        suspended_by_admin=True,
        suspended_reason=REASON,
        message=f"Suspended by an administrator: {REASON}. Only an administrator can resume it.",
    )


def test_owner_suspends_after_confirming(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store_id = ready_store(portal_env)
    at = open_page("store", "alice", id=store_id)
    assert not at.exception, at.exception
    assert "Suspend store" in everything_shown(at)
    assert at.button(key="suspend").disabled, "nothing happens before the confirmation"
    assert not [t for t in at.text_input if t.key == "suspend_reason"], "owners give no reason"
    at.checkbox(key="confirm_suspend").check().run()
    at.button(key="suspend").click().run()
    assert not at.exception, at.exception
    assert store_row(portal_env.db, store_id).status == StoreStatus.SUSPENDING
    shown = everything_shown(at)
    assert "Suspending" in shown
    assert "still counts toward the store limit" in shown


def test_owner_resumes_their_own_suspension(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store_id = ready_store(portal_env)
    set_state(portal_env, store_id, status=StoreStatus.SUSPENDED, message="Suspended: offline.")
    at = open_page("store", "alice", id=store_id)
    shown = everything_shown(at)
    assert "Suspended" in shown and "offline while the store is suspended" in shown
    at.button(key="resume").click().run()
    assert not at.exception, at.exception
    assert store_row(portal_env.db, store_id).status == StoreStatus.RESUMING
    assert "Resuming" in everything_shown(at)


def test_owner_sees_the_admins_reason_and_cannot_resume(
    open_page: Callable[..., AppTest], portal_env: Platform
) -> None:
    store_id = ready_store(portal_env)
    admin_suspended(portal_env, store_id)
    at = open_page("store", "alice", id=store_id)
    assert not at.exception, at.exception
    shown = everything_shown(at)
    assert f"Reason: {REASON}" in shown
    assert "Only an administrator can resume it" in shown
    assert "resume" not in {b.key for b in at.button}

    listing = open_page("stores", "alice")
    table = everything_shown(listing)
    assert "Suspended by an administrator" in table and REASON in table
    usage = " ".join(str(e.proto) for e in listing.get("progress"))
    assert "2 of" not in usage and "1 of" in usage and "1 suspended" in usage


def test_admin_must_give_a_reason_then_suspends_and_resumes(
    open_page: Callable[..., AppTest], portal_env: Platform
) -> None:
    store_id = ready_store(portal_env)
    at = open_page("store", "admin", id=store_id)
    at.checkbox(key="confirm_suspend").check().run()
    at.button(key="suspend").click().run()
    assert not at.exception, at.exception
    assert "Give a reason" in everything_shown(at)
    assert store_row(portal_env.db, store_id).status == StoreStatus.READY

    at.text_input(key="suspend_reason").input(REASON).run()
    at.button(key="suspend").click().run()
    assert not at.exception, at.exception
    row = store_row(portal_env.db, store_id)
    assert (row.status, row.suspended_by_admin, row.suspended_reason) == (StoreStatus.SUSPENDING, True, REASON)

    set_state(portal_env, store_id, status=StoreStatus.SUSPENDED)
    at = open_page("store", "admin", id=store_id)
    assert "You can resume it below" in everything_shown(at)
    at.button(key="resume").click().run()
    assert store_row(portal_env.db, store_id).status == StoreStatus.RESUMING
    assert audit_actions(portal_env.db, store_id)[-2:] == ["store.suspend_requested", "store.resume_requested"]


def test_new_store_form_says_suspended_stores_count(
    open_page: Callable[..., AppTest], portal_env: Platform, monkeypatch: object
) -> None:
    store_id = ready_store(portal_env)
    set_state(portal_env, store_id, status=StoreStatus.SUSPENDED)
    at = open_page("new", "alice")
    assert not at.exception, at.exception
    assert "1 of them is suspended" in everything_shown(at)
    assert "counts toward the limit" in everything_shown(at)


def test_in_progress_states_are_shown_without_actions(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store_id = ready_store(portal_env)
    for status, label in ((StoreStatus.SUSPENDING, "Suspending"), (StoreStatus.RESUMING, "Resuming")):
        set_state(portal_env, store_id, status=status, health="erroring", message=f"{label} refused by Kubernetes")
        at = open_page("store", "alice", id=store_id)
        assert not at.exception, at.exception
        assert f"{label}: having trouble" in everything_shown(at)
        assert not {"suspend", "resume"} & {b.key for b in at.button}
