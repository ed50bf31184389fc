"""Upgrades on the portal (AppTest): the admin's list of outdated stores and "upgrade all",
the store page's Versions section (owners see, only admins upgrade, behind a
confirmation), and an upgrade's phase while it runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from portal.display import status_badge, status_text
from portal.upgrades_panel import UPGRADE_ALL_CONFIRMATION
from portal.versions_panel import OWNERS_CAPTION, UPGRADE_CONFIRMATION, UPGRADE_NEEDS_STORAGE
from provisioning.catalog import versions
from provisioning.errors import InvalidStateError
from provisioning.models import StoreStatus, utcnow
from provisioning.platform import Platform
from provisioning.service import StoreService
from tests.pages.conftest import actor
from tests.pages.test_page_states import set_state
from tests.shared import apptest
from tests.shared.apptest import everything_shown
from tests.shared.platform import store_row
from tests.shared.portal import build_platform, set_env
from tests.shared.portal import portal_env as environment

STORAGE = {
    "BACKUP_S3_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: no test reaches an object store
    "BACKUP_S3_ACCESS_KEY_ID": "k",
    "BACKUP_S3_SECRET_ACCESS_KEY": "s",
    "MAX_CONCURRENT_UPGRADES": "3",
}
OLD_WORDPRESS = "wordpress:6.0.0-php8.1-apache"


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """The portal's platform with backup storage configured, alice and bob."""
    set_env(monkeypatch, environment(tmp_path, **STORAGE))
    platform = build_platform()
    yield platform
    platform.db.dispose()


def outdated_store(platform: Platform, name: str = "alices-shop", owner: str = "alice", **state: object) -> str:
    """A ready store that still runs an older WordPress than today's pin."""
    store = platform.stores.create_store(actor(platform, owner), name)
    old = versions.pinned(platform.settings, "woocommerce") | {"wordpress": OLD_WORDPRESS}
    set_state(platform, store.id, **({"status": StoreStatus.READY, "message": "Ready", "versions": old} | state))
    return store.id


def open_as(platform: Platform, page: str, username: str, **query: str) -> AppTest:
    at = apptest.open_page(platform, page, username, **query)
    assert not at.exception, at.exception
    return at


def test_the_admin_sees_the_outdated_stores_and_upgrade_all_queues_the_ready_ones(configured: Platform) -> None:
    ready = outdated_store(configured)
    busy = outdated_store(configured, "bobs-shop", "bob", status=StoreStatus.PROVISIONING)
    configured.stores.create_store(actor(configured, "bob"), "current-shop")  # on today's pins: not listed
    at = open_as(configured, "admin", "admin")
    shown = everything_shown(at)
    assert "MAX_CONCURRENT_UPGRADES: 3 upgrades run at once; the rest wait their turn." in shown
    [table] = [d.value for d in at.dataframe if "Newer versions" in d.value.columns]
    assert list(table.columns) == ["Store", "Owner", "Engine", "Status", "Newer versions"]
    assert list(table["Store"]) == ["alices-shop", "bobs-shop"]
    assert list(table["Status"]) == ["Ready", "Provisioning"]
    pin = configured.settings.wordpress_image
    assert table["Newer versions"][0] == f"wordpress {OLD_WORDPRESS} → {pin}"
    assert "1 of these 2 stores are ready to upgrade" in shown

    assert at.button(key="upgrade_all").disabled, "nothing happens before the confirmation"
    assert at.checkbox(key="confirm_upgrade_all").label == UPGRADE_ALL_CONFIRMATION
    at.checkbox(key="confirm_upgrade_all").check().run()
    at.button(key="upgrade_all").click().run()
    assert not at.exception, at.exception
    assert "Upgrade queued for 1 store: alices-shop." in [s.value for s in at.success]
    row = store_row(configured.db, ready)
    assert (row.status, row.upgrade_phase, row.upgrade_to["wordpress"]) == (StoreStatus.UPGRADING, "queued", pin)
    assert store_row(configured.db, busy).status == StoreStatus.PROVISIONING, "left for later"


def test_without_backup_storage_the_admin_is_told_what_to_configure(
    open_page: Callable[..., AppTest], portal_env: Platform
) -> None:
    store_id = outdated_store(portal_env)
    at = open_page("admin", "admin")
    assert not at.exception, at.exception
    assert UPGRADE_NEEDS_STORAGE in [i.value for i in at.info]
    assert "upgrade_all" not in {b.key for b in at.button}
    at = open_page("store", "admin", id=store_id)
    assert f"Upgrade: {UPGRADE_NEEDS_STORAGE}" in everything_shown(at)
    assert "upgrade" not in {b.key for b in at.button}


def test_every_store_current_says_so(configured: Platform) -> None:
    configured.stores.create_store(actor(configured, "alice"), "alices-shop")
    at = open_as(configured, "admin", "admin")
    assert "Every store runs the versions new stores get today." in [i.value for i in at.info]
    assert "upgrade_all" not in {b.key for b in at.button}


def test_the_owner_sees_newer_versions_but_no_upgrade_button(configured: Platform) -> None:
    store_id = outdated_store(configured)
    at = open_as(configured, "store", "alice", id=store_id)
    shown = everything_shown(at)
    [table] = [d.value for d in at.dataframe if "Version" in d.value.columns]
    assert dict(zip(table["Component"], table["Version"], strict=True))["wordpress"] == OLD_WORDPRESS
    assert f"Newer versions are available: wordpress {OLD_WORDPRESS} → " in shown
    assert OWNERS_CAPTION in shown
    assert "upgrade" not in {b.key for b in at.button}
    assert "confirm_upgrade" not in {c.key for c in at.checkbox}


def test_a_store_on_todays_versions_offers_no_upgrade(configured: Platform) -> None:
    store = configured.stores.create_store(actor(configured, "alice"), "alices-shop")
    set_state(configured, store.id, status=StoreStatus.READY)
    at = open_as(configured, "store", "admin", id=store.id)
    shown = everything_shown(at)
    assert "These are the versions new stores get today." in shown and "Newer versions" not in shown
    assert "upgrade" not in {b.key for b in at.button}


def test_the_admins_upgrade_needs_the_confirmation_then_the_store_is_upgrading(configured: Platform) -> None:
    store_id = outdated_store(configured)
    at = open_as(configured, "store", "admin", id=store_id)
    assert at.button(key="upgrade").disabled, "nothing happens before the confirmation"
    assert at.checkbox(key="confirm_upgrade").label == UPGRADE_CONFIRMATION
    at.checkbox(key="confirm_upgrade").check().run()
    at.button(key="upgrade").click().run()
    assert not at.exception, at.exception
    row = store_row(configured.db, store_id)
    assert (row.status, row.upgrade_phase, row.upgrade_from["wordpress"]) == (
        StoreStatus.UPGRADING,
        "queued",
        OLD_WORDPRESS,
    )
    assert "Upgrading alices-shop" in [t.value for t in at.toast]
    assert "Upgrading: Queued" in everything_shown(at)


def test_a_store_that_is_not_ready_says_why_it_cannot_be_upgraded(configured: Platform) -> None:
    store_id = outdated_store(configured, status=StoreStatus.SUSPENDED)
    at = open_as(configured, "store", "admin", id=store_id)
    assert "only a running store can be upgraded; this one is suspended." in everything_shown(at)
    assert "upgrade" not in {b.key for b in at.button}


@pytest.mark.parametrize(
    ("phase", "words"),
    [
        ("queued", "Queued"),
        ("backup", "Taking a backup first"),
        ("applying", "Applying the new versions"),
        ("verifying", "Checking the store"),
    ],
)
def test_an_upgrading_store_shows_its_phase_and_what_changes(configured: Platform, phase: str, words: str) -> None:
    old = versions.pinned(configured.settings, "woocommerce") | {"wordpress": OLD_WORDPRESS}
    new = versions.pinned(configured.settings, "woocommerce")
    store_id = outdated_store(
        configured,
        status=StoreStatus.UPGRADING,
        upgrade_phase=phase,
        upgrade_from=old,
        upgrade_to=new,
        upgrade_started_at=utcnow(),
    )
    at = open_as(configured, "store", "alice", id=store_id)
    shown = everything_shown(at)
    assert f"Upgrading: {words}" in shown
    assert f"{words}: an upgrade of this store is under way" in shown
    assert "The storefront restarts while the new versions are applied." in shown
    [changes] = [d.value for d in at.dataframe if "From" in d.value.columns]
    assert changes.to_dict("records") == [{"Component": "wordpress", "From": OLD_WORDPRESS, "To": new["wordpress"]}]
    assert "upgrade" not in {b.key for b in at.button}


def test_a_rollback_says_so(configured: Platform) -> None:
    store_id = outdated_store(
        configured,
        status=StoreStatus.RESTORING,
        upgrade_phase="rolling_back",
        restore_phase="importing",
        upgrade_from={"wordpress": OLD_WORDPRESS},
        upgrade_to={"wordpress": configured.settings.wordpress_image},
    )
    at = open_as(configured, "store", "alice", id=store_id)
    shown = everything_shown(at)
    assert "Rolling back: the upgraded store did not pass its checks" in shown
    assert "Restoring: Rolling back" in shown


def test_refusals_are_shown_as_their_messages(configured: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """A race with the worker (a backup just started) reaches the admin as its sentence."""
    store_id = outdated_store(configured)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise InvalidStateError("A backup of this store is already running; try again when it has finished.")

    monkeypatch.setattr(StoreService, "upgrade_store", refuse)
    monkeypatch.setattr(StoreService, "upgrade_all", refuse)
    at = open_as(configured, "store", "admin", id=store_id)
    at.checkbox(key="confirm_upgrade").check().run()
    at.button(key="upgrade").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["A backup of this store is already running; try again when it has finished."]
    at = open_as(configured, "admin", "admin")
    at.checkbox(key="confirm_upgrade_all").check().run()
    at.button(key="upgrade_all").click().run()
    assert not at.exception, at.exception
    assert any("already running" in e.value for e in at.error)
    assert store_row(configured.db, store_id).status == StoreStatus.READY


def test_status_words_for_an_upgrade() -> None:
    """Full rows carry the phase; list rows (no phase column) say the status alone."""

    def row(status: StoreStatus, **values: object) -> SimpleNamespace:
        return SimpleNamespace(status=status, health="working", **values)

    assert status_text(row(StoreStatus.UPGRADING, upgrade_phase="backup")) == "⬆️ Upgrading: Taking a backup first"
    assert status_text(row(StoreStatus.UPGRADING, upgrade_phase="")) == "⬆️ Upgrading: Queued"
    assert status_text(row(StoreStatus.UPGRADING)) == "⬆️ Upgrading"
    assert status_text(row(StoreStatus.RESTORING, upgrade_phase="rolling_back")) == "♻️ Restoring: Rolling back"
    assert status_text(row(StoreStatus.RESTORING, upgrade_phase="")) == "♻️ Restoring"
    assert status_badge(row(StoreStatus.UPGRADING, upgrade_phase="verifying")) == (
        ":blue-badge[Upgrading: Checking the store]"
    )
    assert status_text(SimpleNamespace(status=StoreStatus.UPGRADING, health="erroring")) == (
        "⚠️ Upgrading (having trouble)"
    )
