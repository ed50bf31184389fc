"""The store page's Backups section (AppTest): off without storage, back up now, the list,
and a restore that needs its confirmation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from portal.backups_panel import RESTORE_CONFIRMATION
from provisioning.backups.commands import NOT_CONFIGURED
from provisioning.errors import InvalidStateError
from provisioning.models import Backup, BackupStatus, FailureKind, StoreStatus, utcnow
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
    "BACKUP_INTERVAL_HOURS": "24",
    "BACKUP_RETENTION": "5",
}


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """The portal's platform with backup storage configured, alice and bob."""
    set_env(monkeypatch, environment(tmp_path, **STORAGE))
    platform = build_platform()
    yield platform
    platform.db.dispose()


def ready_store(platform: Platform, **state: object) -> str:
    store = platform.stores.create_store(actor(platform, "alice"), "alices-shop")
    set_state(platform, store.id, **({"status": StoreStatus.READY, "message": "Ready: open it"} | state))
    return store.id


def add_backup(platform: Platform, store_id: str, status: BackupStatus, **values: object) -> str:
    """A backup row as the reconciler leaves it (a test's precondition, not a product path)."""
    backup = Backup(store_id=store_id, engine="woocommerce", status=status, **values)  # type: ignore[arg-type]
    with Session(platform.db) as session:
        session.add(backup)
        session.commit()
        return backup.id


def backups_of(platform: Platform, store_id: str) -> list[Backup]:
    with Session(platform.db) as session:
        return list(session.exec(select(Backup).where(Backup.store_id == store_id)).all())


def open_store(platform: Platform, store_id: str, username: str = "alice") -> AppTest:
    at = apptest.open_page(platform, "store", username, id=store_id)
    assert not at.exception, at.exception
    return at


def test_without_storage_the_section_says_so_and_offers_nothing(
    open_page: Callable[..., AppTest], portal_env: Platform
) -> None:
    store_id = ready_store(portal_env)
    at = open_page("store", "alice", id=store_id)
    assert not at.exception, at.exception
    assert NOT_CONFIGURED in [i.value for i in at.info]
    assert not {"backup_now", "restore"} & {b.key for b in at.button}


def test_a_ready_store_lists_its_backups_with_sizes_and_schedule(configured: Platform) -> None:
    store_id = ready_store(configured)
    earlier = utcnow() - timedelta(days=1)
    add_backup(configured, store_id, BackupStatus.SUCCEEDED, size_bytes=5 * 1024 * 1024, created_at=earlier)
    add_backup(configured, store_id, BackupStatus.FAILED, kind="scheduled", message="The dump Job failed.")
    at = open_store(configured, store_id)
    shown = everything_shown(at)
    assert "Keeps the newest 5 backups; scheduled every 24 hours." in shown
    [table] = [d.value for d in at.dataframe if "Kind" in d.value.columns]
    assert list(table.columns) == ["Time (UTC)", "Kind", "Status", "Size", "Message"]
    assert list(table["Status"]) == ["❌ failed", "✅ succeeded"], "newest first"
    assert list(table["Size"]) == ["", "5.0 MB"]
    assert "The dump Job failed." in shown
    assert not at.button(key="backup_now").disabled
    assert at.button(key="restore").disabled, "restore waits for the confirmation"


def test_back_up_now_records_a_pending_backup(configured: Platform) -> None:
    store_id = ready_store(configured)
    at = open_store(configured, store_id)
    assert "No backups yet." in everything_shown(at)
    at.button(key="backup_now").click().run()
    assert not at.exception, at.exception
    [backup] = backups_of(configured, store_id)
    assert (backup.status, backup.kind, backup.requested_by) == (BackupStatus.PENDING, "manual", "alice")
    assert "Backing up alices-shop" in [t.value for t in at.toast]
    assert at.button(key="backup_now").disabled, "one backup at a time"
    assert "A backup of this store is running" in everything_shown(at)

    add_backup(configured, store_id, BackupStatus.SUCCEEDED, created_at=utcnow() - timedelta(days=1))
    at = open_store(configured, store_id)
    assert "restore" not in {b.key for b in at.button}
    assert "restore once the running backup has finished" in everything_shown(at)


def test_restore_needs_the_confirmation_then_the_store_is_restoring(configured: Platform) -> None:
    store_id = ready_store(configured)
    backup_id = add_backup(configured, store_id, BackupStatus.SUCCEEDED, size_bytes=2048)
    add_backup(configured, store_id, BackupStatus.FAILED, message="Upload refused.")
    at = open_store(configured, store_id)
    assert at.selectbox(key="restore_backup").options and len(at.selectbox(key="restore_backup").options) == 1
    assert at.button(key="restore").disabled, "nothing happens before the confirmation"
    assert at.checkbox(key="confirm_restore").label == RESTORE_CONFIRMATION
    at.checkbox(key="confirm_restore").check().run()
    at.button(key="restore").click().run()
    assert not at.exception, at.exception
    row = store_row(configured.db, store_id)
    assert (row.status, row.restore_backup_id, row.restore_phase) == (StoreStatus.RESTORING, backup_id, "stopping")

    set_state(configured, store_id, restore_phase="importing")
    at = open_store(configured, store_id)
    shown = everything_shown(at)
    assert "Restoring" in shown and "offline while a backup is restored" in shown
    assert "step 2 of 3" in " ".join(str(p.proto) for p in at.get("progress"))
    assert at.button(key="backup_now").disabled
    assert "restore" not in {b.key for b in at.button}


def test_a_store_that_is_not_ready_says_why_it_cannot_be_backed_up(configured: Platform) -> None:
    store_id = ready_store(configured, status=StoreStatus.PROVISIONING, message="Working")
    at = open_store(configured, store_id)
    assert at.button(key="backup_now").disabled
    assert "Only a running store can be backed up" in everything_shown(at)

    add_backup(configured, store_id, BackupStatus.SUCCEEDED, size_bytes=10)
    at = open_store(configured, store_id)
    assert "restore" not in {b.key for b in at.button}
    assert "a backup can be put back into a running or suspended store" in everything_shown(at)


def test_after_a_failed_restore_the_way_back_is_restoring_again(configured: Platform) -> None:
    store_id = ready_store(
        configured,
        status=StoreStatus.FAILED,
        failure_kind=FailureKind.RESTORE,
        message="The restore failed: restore a backup again or delete the store.",
    )
    add_backup(configured, store_id, BackupStatus.SUCCEEDED, size_bytes=10)
    at = open_store(configured, store_id)
    assert "retry" not in {b.key for b in at.button}, "provisioning again would serve partly restored data"
    assert "partly restored" in everything_shown(at)
    at.checkbox(key="confirm_restore").check().run()
    at.button(key="restore").click().run()
    assert store_row(configured.db, store_id).status == StoreStatus.RESTORING


def test_refusals_are_shown_as_their_messages(configured: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the service refuses (a race with the worker, retention deleting the chosen
    backup) reaches the owner as its sentence, never as a traceback."""
    store_id = ready_store(configured)
    add_backup(configured, store_id, BackupStatus.SUCCEEDED, size_bytes=10)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise InvalidStateError("A backup of this store is already running; try again when it has finished.")

    monkeypatch.setattr(StoreService, "backup_store", refuse)
    monkeypatch.setattr(StoreService, "restore_backup", refuse)
    at = open_store(configured, store_id)
    at.button(key="backup_now").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["A backup of this store is already running; try again when it has finished."]
    at.checkbox(key="confirm_restore").check().run()
    at.button(key="restore").click().run()
    assert not at.exception, at.exception
    assert any("already running" in e.value for e in at.error)
    assert store_row(configured.db, store_id).status == StoreStatus.READY


def test_a_backup_is_copied_into_a_new_store_that_opens_on_its_page(configured: Platform) -> None:
    store_id = ready_store(configured)
    backup_id = add_backup(configured, store_id, BackupStatus.SUCCEEDED, size_bytes=2048)
    add_backup(configured, store_id, BackupStatus.FAILED, message="Upload refused.")
    at = open_store(configured, store_id)
    assert at.selectbox(key="clone_backup").options == [at.selectbox(key="restore_backup").options[0]]
    assert at.selectbox(key="clone_plan").value is None, "the source's plan unless another is picked"
    assert at.button(key="clone").disabled, "a name first"
    at.text_input(key="clone_name").input("alices-copy").run()
    at.button(key="clone").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    [copy_id] = [s.id for s in configured.stores.list_stores(actor(configured, "alice")) if s.name == "alices-copy"]
    copy = store_row(configured.db, copy_id)
    assert (copy.status, copy.cloned_from, copy.engine) == (StoreStatus.REQUESTED, backup_id, "woocommerce")
    assert at.query_params["id"] == copy.id, "the new store's page is open"
    assert "Store alices-copy" in everything_shown(at)
    assert any("Store alices-copy ordered" in t.value for t in at.toast)
    assert store_row(configured.db, store_id).status == StoreStatus.READY, "the source is left as it is"


def test_a_copy_refused_by_the_service_says_why(configured: Platform) -> None:
    store_id = ready_store(configured)
    add_backup(configured, store_id, BackupStatus.SUCCEEDED, size_bytes=2048)
    at = open_store(configured, store_id)
    at.text_input(key="clone_name").input("alices-shop").run()  # the source's own name
    at.button(key="clone").click().run()
    assert not at.exception, at.exception
    assert any("alices-shop" in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="clone_name").input("Bad_Name").run()
    at.button(key="clone").click().run()
    assert not at.exception, at.exception
    assert any("lowercase" in e.value for e in at.error), [e.value for e in at.error]
    names = [s.name for s in configured.stores.list_stores(actor(configured, "alice"))]
    assert names == ["alices-shop"], "nothing was created"


def test_without_a_succeeded_backup_there_is_nothing_to_copy(configured: Platform) -> None:
    store_id = ready_store(configured)
    add_backup(configured, store_id, BackupStatus.FAILED, message="Upload refused.")
    at = open_store(configured, store_id)
    assert "clone" not in {b.key for b in at.button}
