"""`stores outdated`, `stores upgrade` and `stores upgrade-all`: what would change, --yes,
backup storage needed, and the same refusals and audit rows as the portal."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.catalog import versions
from provisioning.cli.main import NOT_FOUND, OK, REFUSED, USAGE
from provisioning.models import StoreStatus
from provisioning.platform import Platform
from tests.provisioning.cli.conftest import audit_rows
from tests.provisioning.cli.test_stores import STORAGE
from tests.shared.platform import set_store, store_row

OLD_WORDPRESS = "wordpress:6.0.0-php8.1-apache"


@pytest.fixture
def storage(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in STORAGE.items():
        monkeypatch.setenv(key, value)


def make_store(platform: Platform, name: str, owner: str, *, outdated: bool, status: StoreStatus) -> str:
    store = platform.stores.create_store(platform.users.get_actor(owner), name)
    pinned = versions.pinned(platform.settings, "woocommerce")
    recorded = pinned | {"wordpress": OLD_WORDPRESS} if outdated else pinned
    set_store(platform.db, store.id, status=status, versions=recorded)
    return store.id


@pytest.fixture
def shops(platform: Platform) -> dict[str, str]:
    """alice's ready outdated store, bob's suspended outdated one, and a current one."""
    return {
        "alice-old": make_store(platform, "alice-old", "alice", outdated=True, status=StoreStatus.READY),
        "bob-old": make_store(platform, "bob-old", "bob", outdated=True, status=StoreStatus.SUSPENDED),
        "alice-new": make_store(platform, "alice-new", "alice", outdated=False, status=StoreStatus.READY),
    }


def test_outdated_lists_what_would_change(cli: Any, platform: Platform, shops: dict[str, str]) -> None:
    listed = cli("--as", "admin", "--json", "stores", "outdated")
    assert listed.code == OK, listed.err
    data = listed.json()
    assert data["count"] == 2 and [s["name"] for s in data["stores"]] == ["alice-old", "bob-old"]
    pin = platform.settings.wordpress_image
    assert data["stores"][0]["changes"] == {"wordpress": {"from": OLD_WORDPRESS, "to": pin}}
    assert data["stores"][1]["owner"] == "bob"

    text = cli("--as", "admin", "stores", "outdated")
    header, first, _ = text.out.splitlines()
    assert header.split() == ["ID", "NAME", "OWNER", "ENGINE", "STATUS", "CHANGES"]
    assert first.split()[:5] == [shops["alice-old"], "alice-old", "alice", "woocommerce", "ready"]
    assert f"wordpress {OLD_WORDPRESS} → {pin}" in first


def test_outdated_when_everything_is_current(cli: Any, platform: Platform) -> None:
    make_store(platform, "alice-new", "alice", outdated=False, status=StoreStatus.READY)
    assert cli("--as", "admin", "stores", "outdated").out == "Every store runs the current versions.\n"


def test_upgrade_needs_yes_and_backup_storage(
    cli: Any, platform: Platform, shops: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    unconfirmed = cli("--as", "admin", "stores", "upgrade", "alice-old")
    assert unconfirmed.code == USAGE and "--yes" in unconfirmed.err and "backup" in unconfirmed.err
    off = cli("--as", "admin", "stores", "upgrade", "alice-old", "--yes")
    assert off.code == REFUSED and "An upgrade takes a backup first" in off.err and "Traceback" not in off.err
    off_all = cli("--as", "admin", "stores", "upgrade-all", "--yes")
    assert off_all.code == REFUSED and "BACKUP_S3_ENDPOINT" in off_all.err
    assert store_row(platform.db, shops["alice-old"]).status == StoreStatus.READY


@pytest.mark.usefixtures("storage")
def test_upgrade_one_store(cli: Any, platform: Platform, shops: dict[str, str]) -> None:
    made = cli("--as", "admin", "--json", "stores", "upgrade", "alice-old", "--yes")
    assert made.code == OK, made.err
    data = made.json()["store"]
    assert (data["status"], data["upgrade_phase"], data["upgrade_from"]["wordpress"]) == (
        "upgrading",
        "queued",
        OLD_WORDPRESS,
    )
    assert [(e.actor, e.store_name) for e in audit_rows(platform, "store.upgrade_requested")] == [
        ("admin", "alice-old")
    ]
    again = cli("--as", "admin", "stores", "upgrade", "alice-old", "--yes")
    assert again.code == REFUSED and "already being upgraded" in again.err
    current = cli("--as", "admin", "stores", "upgrade", "alice-new", "--yes")
    assert current.code == REFUSED and "already runs the current versions" in current.err
    suspended = cli("--as", "admin", "stores", "upgrade", "bob-old", "--yes")
    assert suspended.code == REFUSED and "this one is suspended" in suspended.err
    assert cli("--as", "admin", "stores", "upgrade", "nope", "--yes").code == NOT_FOUND
    text = cli("--as", "admin", "stores", "outdated")
    assert "upgrading" in text.out


@pytest.mark.usefixtures("storage")
def test_upgrade_all_needs_yes_and_queues_the_ready_ones(cli: Any, platform: Platform, shops: dict[str, str]) -> None:
    unconfirmed = cli("--as", "admin", "stores", "upgrade-all")
    assert unconfirmed.code == USAGE and "--yes" in unconfirmed.err
    assert store_row(platform.db, shops["alice-old"]).status == StoreStatus.READY
    queued = cli("--as", "admin", "--json", "stores", "upgrade-all", "--yes")
    assert queued.code == OK, queued.err
    assert queued.json() == {"queued": ["alice-old"], "count": 1}
    assert store_row(platform.db, shops["alice-old"]).status == StoreStatus.UPGRADING
    assert store_row(platform.db, shops["bob-old"]).status == StoreStatus.SUSPENDED, "left for later"
    nothing = cli("--as", "admin", "stores", "upgrade-all", "--yes")
    assert nothing.code == OK and nothing.out == "No ready store needed an upgrade; nothing was queued.\n"


def test_upgrade_all_as_text(cli: Any, platform: Platform, shops: dict[str, str], storage: None) -> None:
    done = cli("--as", "admin", "stores", "upgrade-all", "--yes")
    assert done.code == OK, done.err
    limit = platform.settings.max_concurrent_upgrades
    assert done.out == f"Upgrade queued for 1 store: alice-old ({limit} run at once; the rest wait their turn).\n"
