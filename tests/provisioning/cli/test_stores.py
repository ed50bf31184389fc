"""`stores ...`: filters, show by id or name, delete with --yes, retry, suspend, plans,
backups and restore, with audit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from provisioning.actors import Actor
from provisioning.cli.main import NOT_FOUND, OK, REFUSED, USAGE
from provisioning.models import Backup, BackupStatus, Store, StoreStatus
from provisioning.platform import Platform
from tests.provisioning.cli.conftest import audit_rows
from tests.shared.platform import set_store


@pytest.fixture
def alice(platform: Platform) -> Actor:
    return platform.users.get_actor("alice")


@pytest.fixture
def shops(platform: Platform, alice: Actor) -> dict[str, Store]:
    """alice's woocommerce and medusa stores, bob's failed one, and a deleted one of bob's."""
    bob = platform.users.get_actor("bob")
    made = {
        "alice-woo": platform.stores.create_store(alice, "alice-woo"),
        "alice-medusa": platform.stores.create_store(alice, "alice-medusa", engine="medusa"),
        "bob-failed": platform.stores.create_store(bob, "bob-failed"),
        "bob-gone": platform.stores.create_store(bob, "bob-gone"),
    }
    set_store(platform.db, made["bob-failed"].id, status=StoreStatus.FAILED, message="The setup Job failed.")
    set_store(platform.db, made["bob-gone"].id, status=StoreStatus.DELETED, active_name=None)
    return made


def names(result: Any) -> set[str]:
    assert result.code == OK, result.err
    return {store["name"] for store in result.json()["stores"]}


def test_list_filters(cli: Any, shops: dict[str, Store]) -> None:
    base = ("--as", "admin", "--json", "stores", "list")
    assert names(cli(*base)) == {"alice-woo", "alice-medusa", "bob-failed"}
    assert names(cli(*base, "--all")) == set(shops)
    assert names(cli(*base, "--include-deleted", "--owner", "bob")) == {"bob-failed", "bob-gone"}
    assert names(cli(*base, "--owner", "alice", "--engine", "medusa")) == {"alice-medusa"}
    assert names(cli(*base, "--status", "deleted")) == {"bob-gone"}
    limited = cli(*base, "--limit", "1").json()
    assert (limited["count"], limited["total"]) == (1, 3)
    owners = {s["name"]: s["owner"] for s in cli(*base).json()["stores"]}
    assert owners["bob-failed"] == "bob"


def test_list_as_text(cli: Any, shops: dict[str, Store]) -> None:
    result = cli("--as", "admin", "stores", "list", "--status", "failed")
    assert result.code == OK
    header, row = result.out.splitlines()
    assert header.split() == ["ID", "NAME", "ENGINE", "STATUS", "OWNER", "CREATED", "URL"]
    assert row.split()[:5] == [shops["bob-failed"].id, "bob-failed", "woocommerce", "failed", "bob"]
    assert cli("--as", "admin", "stores", "list", "--owner", "nobody").out == "No stores match.\n"


def test_show_by_id_and_by_name(cli: Any, shops: dict[str, Store]) -> None:
    by_name = cli("--as", "admin", "--json", "stores", "show", "alice-woo")
    assert by_name.code == OK
    data = by_name.json()
    assert (data["id"], data["owner"], data["status"]) == (shops["alice-woo"].id, "alice", "requested")
    assert [(e["actor"], e["action"]) for e in data["audit"]] == [("alice", "store.create")]
    text = cli("--as", "admin", "stores", "show", shops["bob-failed"].id)
    assert text.code == OK
    assert "The setup Job failed." in text.out and "owner:" in text.out


def test_unknown_stores_are_not_found(cli: Any, shops: dict[str, Store]) -> None:
    for command in (["show", "nope"], ["retry", "nope"], ["delete", "0" * 32, "--yes"]):
        result = cli("--as", "admin", "stores", *command)
        assert result.code == NOT_FOUND, command
        assert result.err.startswith("error: ") and "Traceback" not in result.err


def test_delete_needs_yes_then_works_once(cli: Any, platform: Platform, shops: dict[str, Store]) -> None:
    store = shops["alice-woo"]
    unconfirmed = cli("--as", "admin", "stores", "delete", store.id)
    assert unconfirmed.code == USAGE and "--yes" in unconfirmed.err and "alice-woo" in unconfirmed.err
    assert audit_rows(platform, "store.delete") == []

    deleted = cli("--as", "admin", "--json", "stores", "delete", store.id, "--yes")
    assert deleted.code == OK
    assert deleted.json()["store"]["status"] == "deleting"
    assert [(e.actor, e.store_id) for e in audit_rows(platform, "store.delete")] == [("admin", store.id)]

    again = cli("--as", "admin", "stores", "delete", store.id, "--yes")
    assert again.code == REFUSED and "already being deleted" in again.err
    assert len(audit_rows(platform, "store.delete")) == 1


def test_retry_only_failed_stores(cli: Any, platform: Platform, shops: dict[str, Store]) -> None:
    refused = cli("--as", "admin", "stores", "retry", "alice-woo")
    assert refused.code == REFUSED and "Only failed stores" in refused.err
    retried = cli("--as", "admin", "--json", "stores", "retry", "bob-failed")
    assert retried.code == OK and retried.json()["store"]["status"] == "requested"
    assert [(e.actor, e.store_name) for e in audit_rows(platform, "store.retry")] == [("admin", "bob-failed")]


def test_suspend_needs_a_reason_for_another_users_store_then_resume(
    cli: Any, platform: Platform, shops: dict[str, Store]
) -> None:
    store = shops["alice-woo"]
    refused = cli("--as", "admin", "stores", "suspend", "alice-woo")
    assert refused.code == REFUSED and "still provisioning" in refused.err
    set_store(platform.db, store.id, status=StoreStatus.READY)
    no_reason = cli("--as", "admin", "stores", "suspend", "alice-woo")
    assert no_reason.code == REFUSED and "Give a reason" in no_reason.err
    suspended = cli("--as", "admin", "--json", "stores", "suspend", "alice-woo", "--reason", "Spam")
    assert suspended.code == OK and suspended.json()["store"]["status"] == "suspending"
    assert [(e.actor, e.detail) for e in audit_rows(platform, "store.suspend_requested")] == [
        ("admin", "by an administrator: Spam")
    ]
    early = cli("--as", "admin", "stores", "resume", "alice-woo")
    assert early.code == REFUSED and "still being suspended" in early.err
    set_store(platform.db, store.id, status=StoreStatus.SUSPENDED)
    resumed = cli("--as", "admin", "--json", "stores", "resume", "alice-woo")
    assert resumed.code == OK and resumed.json()["store"]["status"] == "resuming"


def test_plan_changes_a_ready_store_and_refuses_shrinking(
    cli: Any, platform: Platform, shops: dict[str, Store]
) -> None:
    store = shops["alice-medusa"]
    early = cli("--as", "admin", "stores", "plan", "alice-medusa", "large")
    assert early.code == REFUSED and "still provisioning" in early.err
    set_store(platform.db, store.id, status=StoreStatus.READY)
    changed = cli("--as", "admin", "--json", "stores", "plan", "alice-medusa", "large")
    assert changed.code == OK, changed.err
    assert changed.json()["store"]["status"] == "resizing"
    assert [(e.actor, e.detail) for e in audit_rows(platform, "store.plan_change_requested")] == [
        ("admin", "from small to large")
    ]
    set_store(platform.db, store.id, status=StoreStatus.READY, volume_sizes={"database": "20Gi", "uploads": "20Gi"})
    shrink = cli("--as", "admin", "stores", "plan", "alice-medusa", "small")
    assert shrink.code == REFUSED and "Volumes never shrink" in shrink.err


STORAGE = {
    "BACKUP_S3_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: the CLI only records intent
    "BACKUP_S3_ACCESS_KEY_ID": "k",
    "BACKUP_S3_SECRET_ACCESS_KEY": "s",
}


def test_backup_needs_storage_and_a_ready_store(
    cli: Any, platform: Platform, shops: dict[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    off = cli("--as", "admin", "stores", "backup", "alice-woo")
    assert off.code == REFUSED and "No backup storage is configured" in off.err and "Traceback" not in off.err
    for key, value in STORAGE.items():
        monkeypatch.setenv(key, value)
    early = cli("--as", "admin", "stores", "backup", "alice-woo")
    assert early.code == REFUSED and "Only a running store can be backed up" in early.err
    assert cli("--as", "admin", "stores", "backups", "alice-woo").out == "Store 'alice-woo' has no backups.\n"

    set_store(platform.db, shops["alice-woo"].id, status=StoreStatus.READY)
    made = cli("--as", "admin", "--json", "stores", "backup", "alice-woo")
    assert made.code == OK, made.err
    backup = made.json()["backup"]
    assert (backup["status"], backup["kind"], backup["requested_by"]) == ("pending", "manual", "admin")
    assert [(e.actor, e.store_name) for e in audit_rows(platform, "backup.requested")] == [("admin", "alice-woo")]
    again = cli("--as", "admin", "stores", "backup", "alice-woo")
    assert again.code == REFUSED and "already running" in again.err

    listed = cli("--as", "admin", "stores", "backups", shops["alice-woo"].id)
    header, row = listed.out.splitlines()
    assert header.split() == ["ID", "CREATED", "KIND", "STATUS", "BYTES", "MESSAGE"]
    assert row.split()[0] == backup["id"] and "pending" in row.split()
    assert cli("--as", "admin", "--json", "stores", "backups", "alice-woo").json()["count"] == 1
    assert cli("--as", "admin", "stores", "backups", "nope").code == NOT_FOUND


def test_restore_needs_yes_and_a_succeeded_backup(
    cli: Any, platform: Platform, shops: dict[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in STORAGE.items():
        monkeypatch.setenv(key, value)
    store = shops["alice-woo"]
    set_store(platform.db, store.id, status=StoreStatus.READY)
    backup_id = cli("--as", "admin", "--json", "stores", "backup", "alice-woo").json()["backup"]["id"]

    unconfirmed = cli("--as", "admin", "stores", "restore", "alice-woo", backup_id)
    assert unconfirmed.code == USAGE and "--yes" in unconfirmed.err and "lost" in unconfirmed.err
    pending = cli("--as", "admin", "stores", "restore", "alice-woo", backup_id, "--yes")
    assert pending.code == REFUSED and "Only a successful backup" in pending.err
    unknown = cli("--as", "admin", "stores", "restore", "alice-woo", "f" * 32, "--yes")
    assert unknown.code == NOT_FOUND and "No such backup" in unknown.err

    with Session(platform.db) as session:
        session.execute(update(Backup).where(col(Backup.id) == backup_id).values(status=BackupStatus.SUCCEEDED))
        session.commit()
    restored = cli("--as", "admin", "--json", "stores", "restore", "alice-woo", backup_id, "--yes")
    assert restored.code == OK, restored.err
    data = restored.json()["store"]
    assert (data["status"], data["restore_backup_id"], data["restore_phase"]) == ("restoring", backup_id, "stopping")
    assert [e.actor for e in audit_rows(platform, "store.restore_requested")] == ["admin"]


def test_clone_copies_a_succeeded_backup_into_a_new_store(
    cli: Any, platform: Platform, shops: dict[str, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = shops["alice-medusa"]
    without = cli("--as", "admin", "stores", "clone", "alice-medusa", "f" * 32, "medusa-copy")
    assert without.code == REFUSED and "No backup storage is configured" in without.err
    for key, value in STORAGE.items():
        monkeypatch.setenv(key, value)
    set_store(platform.db, source.id, status=StoreStatus.READY)
    backup_id = cli("--as", "admin", "--json", "stores", "backup", "alice-medusa").json()["backup"]["id"]

    pending = cli("--as", "admin", "stores", "clone", "alice-medusa", backup_id, "medusa-copy")
    assert pending.code == REFUSED and "Only a successful backup" in pending.err
    unknown = cli("--as", "admin", "stores", "clone", "alice-medusa", "f" * 32, "medusa-copy")
    assert unknown.code == NOT_FOUND and "No such backup" in unknown.err
    assert cli("--as", "admin", "stores", "clone", "alice-medusa", backup_id).code == USAGE, "a name is required"

    with Session(platform.db) as session:
        session.execute(update(Backup).where(col(Backup.id) == backup_id).values(status=BackupStatus.SUCCEEDED))
        session.commit()
    bad = cli("--as", "admin", "stores", "clone", "alice-medusa", backup_id, "Bad_Name")
    assert bad.code == REFUSED and "lowercase" in bad.err
    taken = cli("--as", "admin", "stores", "clone", "alice-medusa", backup_id, "alice-woo")
    assert taken.code == REFUSED and "already exists" in taken.err

    made = cli("--as", "admin", "stores", "clone", source.id, backup_id, "medusa-copy")
    assert made.code == OK, made.err
    assert "'medusa-copy'" in made.out and backup_id in made.out and "'alice-medusa'" in made.out
    copy = cli("--as", "admin", "--json", "stores", "show", "medusa-copy").json()
    assert (copy["status"], copy["engine"], copy["cloned_from"], copy["owner"]) == (
        "requested",
        "medusa",
        backup_id,
        "admin",
    )
    assert copy["plan"] == platform.stores.get_store(platform.users.get_actor("admin"), source.id).plan
    assert cli("--as", "admin", "--json", "stores", "show", "alice-medusa").json()["status"] == "ready"

    other = cli(
        "--as", "admin", "--json", "stores", "clone", "alice-medusa", backup_id, "medusa-big", "--plan", "large"
    )
    assert other.code == OK, other.err
    data = other.json()["store"]
    assert (data["name"], data["plan"], data["cloned_from"]) == ("medusa-big", "large", backup_id)
