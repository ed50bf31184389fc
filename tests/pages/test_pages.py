"""Pages through streamlit's AppTest, on a real (SQLite) database, signed in by session seeding."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from provisioning.models import StoreStatus
from provisioning.platform import Platform
from tests.pages.conftest import APP, PAGES, actor

ROOT = Path(APP).parent


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [i.value for i in at.info] + [t.value for t in at.title] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def store_page_text(open_page: Callable[..., AppTest], store_id: str) -> str:
    """What alice reads on the page of store ``store_id``."""
    at = open_page("store", "alice", id=store_id)
    assert not at.exception, at.exception
    return texts(at)


def table_names(at: AppTest, *, marker: str = "Status") -> list[str]:
    """Store names from the store tables (those with a `marker` column, not the audit log)."""
    frames = [d.value for d in at.dataframe]
    return [name for frame in frames if marker in frame.columns for name in frame["Store"].tolist()]


@pytest.mark.parametrize("page", ["stores", "new", "store", "admin"])
def test_no_page_raises_on_an_empty_database(open_page: Callable[..., AppTest], page: str) -> None:
    at = open_page(page, "admin")
    assert not at.exception, at.exception
    assert at.title, "every page renders a title"


def test_my_stores_empty_state_tells_what_to_do(open_page: Callable[..., AppTest]) -> None:
    at = open_page("stores", "alice")
    assert not at.exception
    assert "You have no stores yet" in texts(at)
    assert "0 of 10 stores used" in str([p.proto for p in at.get("progress")])


def test_user_creates_a_store_and_sees_only_their_own(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    portal_env.stores.create_store(actor(portal_env, "bob"), "bobs-shop")
    at = open_page("new", "alice")
    at.text_input(key="new_store_name").input("alices-shop").run()
    assert "alices-shop.stores.localhost" in texts(at)
    at.button(key="create_store").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    stores = portal_env.stores.list_stores(actor(portal_env, "alice"))
    assert [s.name for s in stores] == ["alices-shop"]
    assert stores[0].status == StoreStatus.REQUESTED

    listing = open_page("stores", "alice")
    assert table_names(listing) == ["alices-shop"]
    assert "bobs-shop" not in texts(listing)
    assert "1 of 10 stores used" in str([p.proto for p in listing.get("progress")])


def test_bad_name_shows_an_inline_error_and_creates_nothing(
    open_page: Callable[..., AppTest], portal_env: Platform
) -> None:
    at = open_page("new", "alice")
    at.text_input(key="new_store_name").input("My_Shop").run()
    assert any("lowercase" in e.value for e in at.error)
    at.button(key="create_store").click().run()
    assert not at.exception
    assert portal_env.stores.list_stores(actor(portal_env, "alice")) == []


def test_store_page_shows_progress_and_links(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store = portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop")
    body = store_page_text(open_page, store.id)
    assert "Store alices-shop" in body
    assert "Queued" in body
    assert store.namespace in body


def test_store_page_of_another_user_reveals_nothing(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store = portal_env.stores.create_store(actor(portal_env, "bob"), "bobs-shop")
    body = store_page_text(open_page, store.id)
    assert "does not exist or is not yours" in body
    assert "bobs-shop" not in body and store.namespace not in body


def test_non_admin_cannot_reach_admin(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    at = open_page(None, "alice")
    registered = [str(info.get("script_path")) for info in at._registered_pages.values()]
    assert registered and not any(path.endswith("pages/admin.py") for path in registered)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGES["admin"])
    # Even run directly (bypassing navigation), the page refuses a non-admin.
    direct = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=30)
    direct.session_state["actor"] = actor(portal_env, "alice")
    direct.run()
    assert not direct.exception
    assert [e.value for e in direct.error] == ["Only administrators can open this page."]
    assert not direct.dataframe


def test_admin_page_lists_every_store_and_user(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    portal_env.stores.create_store(actor(portal_env, "bob"), "bobs-shop")
    portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop")
    at = open_page("admin", "admin")
    assert not at.exception
    assert sorted(table_names(at)) == ["alices-shop", "bobs-shop"]
    usernames = [n for d in at.dataframe if "Username" in d.value.columns for n in d.value["Username"].tolist()]
    assert usernames == ["admin", "alice", "bob"]


def test_delete_requires_typing_the_name(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    store = portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop")
    at = open_page("store", "alice", id=store.id)
    assert at.button(key="delete").disabled
    at.text_input(key="confirm_delete").input("alices-shop").run()
    at.button(key="delete").click().run()
    assert not at.exception
    assert portal_env.stores.get_store(actor(portal_env, "alice"), store.id).status == StoreStatus.DELETING
