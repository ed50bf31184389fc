"""Each page in each store state: empty, in flight, erroring, failed, ready, deleting."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col
from streamlit.testing.v1 import AppTest

from provisioning.models import Store, StoreStatus, utcnow
from provisioning.platform import Platform
from tests.pages.conftest import actor
from tests.pages.test_pages import texts

CONDITIONS = [
    {"type": "NamespaceReady", "title": "Namespace", "status": "True", "reason": "Active", "message": "in place"},
    {
        "type": "DatabaseReady",
        "title": "Database",
        "status": "True",
        "reason": "Ready",
        "message": "Database: 1/1 ready.",
    },
    {"type": "AppReady", "title": "Web server", "status": "False", "reason": "Starting", "message": "0/1 available."},
    {"type": "StoreInstalled", "title": "Store setup", "status": "False", "reason": "NotCreated", "message": "not yet"},
    {"type": "IngressReady", "title": "Ingress", "status": "False", "reason": "NotCreated", "message": "not yet"},
]


def set_state(platform: Platform, store_id: str, **values: object) -> None:
    with Session(platform.db) as session:
        session.execute(update(Store).where(col(Store.id) == store_id).values(**values))
        session.commit()


@pytest.fixture
def store_id(portal_env: Platform) -> str:
    return portal_env.stores.create_store(actor(portal_env, "alice"), "alices-shop").id


def buttons(at: AppTest) -> set[str]:
    return {b.label for b in at.button}


def store_page(open_page: Callable[..., AppTest], platform: Platform, store_id: str, **state: object) -> AppTest:
    """Alice's store page once the store's row holds ``state``."""
    set_state(platform, store_id, **state)
    at = open_page("store", "alice", id=store_id)
    assert not at.exception, at.exception
    return at


def test_in_flight_store_shows_steps_elapsed_time_and_refreshes(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    at = store_page(
        open_page,
        portal_env,
        store_id,
        status=StoreStatus.PROVISIONING,
        message="Working: Web server: 0/1 available.",
        provisioning_started_at=utcnow() - timedelta(seconds=75),
        conditions=CONDITIONS,
    )
    body = texts(at)
    assert ":blue-badge[Provisioning]" in body
    assert re.search(r"Elapsed: 1m 1[5-9]s", body), body
    assert "✅ **Database**" in body and "🔄 **Web server**" in body and "⏳ **Store setup**" in body
    assert "Retry" not in buttons(at)
    assert "Reveal admin password" in buttons(at)


def test_erroring_store_is_shown_differently_from_working(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    at = store_page(
        open_page,
        portal_env,
        store_id,
        status=StoreStatus.PROVISIONING,
        health="erroring",
        message="Having trouble: No node has room to run the store: Pod/mariadb-0: 0/2 nodes are available.",
        provisioning_started_at=utcnow(),
        conditions=CONDITIONS,
    )
    body = texts(at)
    assert ":orange-badge[Provisioning: having trouble]" in body
    assert "No node has room" in body
    assert "⚠️ **Web server**" in body


def test_failed_store_shows_the_cause_and_a_retry(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    cause = "Not ready after 10 minutes. The store's resource quota is too small: StatefulSet/mariadb: exceeded quota"
    state = {"status": StoreStatus.FAILED, "health": "erroring", "message": cause, "conditions": CONDITIONS}
    at = store_page(open_page, portal_env, store_id, **state)
    body = texts(at)
    assert ":red-badge[Failed]" in body and "quota is too small" in body
    assert "❌ **Web server**" in body
    at.button(key="retry").click().run()
    assert not at.exception
    assert portal_env.stores.get_store(actor(portal_env, "alice"), store_id).status == StoreStatus.REQUESTED


def test_ready_store_shows_links_and_time_to_ready(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    started = utcnow() - timedelta(minutes=5)
    at = store_page(
        open_page,
        portal_env,
        store_id,
        status=StoreStatus.READY,
        message="Ready: open http://alices-shop.stores.localhost",
        provisioning_started_at=started,
        ready_at=started + timedelta(seconds=150),
        conditions=[dict(c, status="True") for c in CONDITIONS],
    )
    body = texts(at)
    assert ":green-badge[Ready]" in body
    assert "Ready after: 2m 30s" in body
    assert "http://alices-shop.stores.localhost/wp-admin/" in body
    assert {"Reveal admin password", "Delete store"} <= buttons(at)
    assert "Retry" not in buttons(at)


def test_reveal_without_a_cluster_explains_instead_of_failing(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    at = open_page("store", "alice", id=store_id)
    at.button(key="reveal").click().run()
    assert not at.exception
    assert any("cluster cannot be reached" in w.value for w in at.warning), [w.value for w in at.warning]


def test_deleting_store_offers_no_actions(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    portal_env.stores.delete_store(actor(portal_env, "alice"), store_id)
    at = open_page("store", "alice", id=store_id)
    body = texts(at)
    assert ":orange-badge[Deleting]" in body
    assert not {"Reveal admin password", "Delete store", "Retry"} & buttons(at)


def test_my_stores_in_flight_and_settled(
    open_page: Callable[..., AppTest], portal_env: Platform, store_id: str
) -> None:
    at = open_page("stores", "alice")
    frame = next(d.value for d in at.dataframe)
    assert frame["Status"].tolist() == ["⏳ Queued"]
    assert frame["Open"].tolist() == [None]
    set_state(portal_env, store_id, status=StoreStatus.READY, ready_at=utcnow())
    at = open_page("stores", "alice")
    frame = next(d.value for d in at.dataframe)
    assert frame["Status"].tolist() == ["✅ Ready"]
    assert frame["Open"].tolist() == ["http://alices-shop.stores.localhost"]


def test_store_page_without_an_id_explains(open_page: Callable[..., AppTest]) -> None:
    at = open_page("store", "alice")
    assert not at.exception
    assert "Choose a store on **My stores**" in texts(at)


def test_admin_charts_and_filters(open_page: Callable[..., AppTest], portal_env: Platform, store_id: str) -> None:
    started = utcnow() - timedelta(minutes=5)
    set_state(
        portal_env,
        store_id,
        status=StoreStatus.READY,
        provisioning_started_at=started,
        ready_at=started + timedelta(seconds=90),
    )
    portal_env.stores.create_store(actor(portal_env, "bob"), "bobs-shop")
    at = open_page("admin", "admin")
    assert not at.exception
    assert "(2 in all)" in texts(at)
    at.selectbox(key="filter_status").select("ready").run()
    frames = [d.value for d in at.dataframe if "Owner" in d.value.columns]
    assert frames[0]["Store"].tolist() == ["alices-shop"]
    at.text_input(key="audit_search").input("bobs").run()
    audit = next(d.value for d in at.dataframe if "Action" in d.value.columns)
    assert audit["Store"].tolist() == ["bobs-shop"]
