"""Plans on the portal: the order form's plan choice, the store page's plan and quota, and
the "Change plan" control that warns before it acts (AppTest)."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from provisioning.models import StoreStatus
from provisioning.platform import Platform
from tests.pages.conftest import actor
from tests.pages.test_page_states import set_state
from tests.shared.apptest import everything_shown
from tests.shared.platform import audit_actions, store_row


def test_the_form_offers_the_plans_with_their_sizes(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    at = open_page("new", "alice")
    assert not at.exception, at.exception
    plan = at.radio(key="new_store_plan")
    assert plan.value == "small" and plan.options == ["Small", "Medium", "Large"]
    assert "volumes: database 10Gi, uploads 10Gi" in str(plan.proto)  # medium's sizes, in its caption
    at.text_input(key="new_store_name").input("big-shop").run()
    at.radio(key="new_store_plan").set_value("medium").run()
    at.button(key="create_store").click().run()
    assert not at.exception, at.exception
    [store] = portal_env.stores.list_stores(actor(portal_env, "alice"))
    assert store_row(portal_env.db, store.id).plan == "medium"


def test_change_plan_warns_then_changes(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store = portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop")
    set_state(portal_env, store.id, status=StoreStatus.READY, message="Ready: open it")
    at = open_page("store", "alice", id=store.id)
    assert not at.exception, at.exception
    shown = everything_shown(at)
    assert "Small" in shown and "quota limits.cpu" in shown
    assert "its pods restart" in shown and "Volumes only grow, never shrink" in shown
    at.selectbox(key="new_plan").set_value("large").run()
    assert "database volume: 2Gi → 20Gi" in everything_shown(at)
    assert at.button(key="change_plan").disabled, "nothing happens before the confirmation"
    at.checkbox(key="confirm_plan").check().run()
    at.button(key="change_plan").click().run()
    assert not at.exception, at.exception
    row = store_row(portal_env.db, store.id)
    assert row.status == StoreStatus.RESIZING and row.plan == "large"
    assert "Changing plan" in everything_shown(at)
    assert audit_actions(portal_env.db, store.id)[-1] == "store.plan_change_requested"


def test_a_smaller_volume_is_refused_with_the_reason(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store = portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop")
    grown = {"database": "20Gi", "uploads": "20Gi"}
    set_state(portal_env, store.id, status=StoreStatus.READY, plan="large", volume_sizes=grown)
    at = open_page("store", "alice", id=store.id)
    at.selectbox(key="new_plan").set_value("small").run()
    assert "refused, volumes never shrink" in everything_shown(at)
    at.checkbox(key="confirm_plan").check().run()
    at.button(key="change_plan").click().run()
    assert not at.exception, at.exception
    assert "Volumes never shrink: the database volume is 20Gi on this store" in everything_shown(at)
    assert store_row(portal_env.db, store.id).plan == "large"


def test_no_plan_change_while_the_store_is_busy(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store = portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop")
    set_state(portal_env, store.id, status=StoreStatus.RESIZING, previous_plan="small", plan="medium")
    at = open_page("store", "alice", id=store.id)
    assert not at.exception, at.exception
    assert "change_plan" not in {b.key for b in at.button}
    assert "(changing from small)" in everything_shown(at)
