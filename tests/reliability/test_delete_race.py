"""Delete racing the reconciler while it provisions the store (PostgreSQL, real cluster).

The reconciler runs in a background thread; stores are deleted at several moments after
it has started provisioning them (at once, and while it is applying). Whatever the
interleaving, each store must end `deleted` with its namespace gone: the reconciler's
writes are conditional on the status it read, so the user's delete always wins, and the
deletion step removes whatever the provisioning step had applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from provisioning.models import StoreStatus
from provisioning.reconciler import Reconciler
from tests.reliability.support import StorePlatform

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

# When each store is deleted: (moment, seconds after it). "provisioning": the reconciler
# moved the store to provisioning (its first step, applying manifests, is under way);
# "applied": that step saved applied_at (manifests in, readiness being watched).
TRIGGERS = (("provisioning", 0.0), ("provisioning", 0.3), ("provisioning", 1.5), ("applied", 0.0), ("applied", 0.5))


@pytest.fixture
def running_reconciler(pg_platform: StorePlatform) -> Iterator[Reconciler]:
    with pg_platform.reconciling("race-reconciler") as reconciler:
        yield reconciler


@pytest.fixture
def scheduler_held(control_plane: Any) -> Iterator[Callable[[], None]]:
    """The scheduler paused (pods stay Pending, so no store can become ready and slip past
    its moment: on a loaded machine a store went from requested to ready between two
    looks); call the yielded function to let it go. Resumed at the end in any case."""
    control_plane.pause("kube-scheduler")
    held = [True]

    def release() -> None:
        if held[0]:
            control_plane.resume("kube-scheduler")
            held[0] = False

    try:
        yield release
    finally:
        release()


def test_delete_racing_the_reconciler_mid_provisioning_ends_deleted(
    pg_platform: StorePlatform, scheduler_held: Callable[[], None], running_reconciler: Reconciler
) -> None:
    platform = pg_platform
    assert platform.kube is not None
    stores = [platform.create(f"race{i}") for i in range(len(TRIGGERS))]
    started = time.monotonic()
    remaining = dict(zip((s.id for s in stores), TRIGGERS, strict=True))
    reached: dict[str, float] = {}
    deleted_while: dict[str, str] = {}
    while remaining:
        if time.monotonic() - started >= 90:
            seen = {i: (platform.store(i).status, platform.store(i).applied_at is not None) for i in remaining}
            raise AssertionError(f"stores never reached their moment: {remaining}; (status, applied) now: {seen}")
        now = time.monotonic()
        for store_id, (moment, delay) in list(remaining.items()):
            current = platform.store(store_id)
            at_moment = current.status == StoreStatus.PROVISIONING and (
                moment == "provisioning" or current.applied_at is not None
            )
            if store_id not in reached and at_moment:
                reached[store_id] = now
            if store_id in reached and now - reached[store_id] >= delay:
                platform.stores.delete_store(platform.alice, store_id)
                deleted_while[store_id] = f"{current.status}, applied={current.applied_at is not None}"
                del remaining[store_id]
        time.sleep(0.01)
    scheduler_held()  # every delete is in: whatever was scheduled may run now

    for store in stores:
        platform.wait_status(store.id, StoreStatus.DELETED, what=f"store {store.name} to be deleted")
    for store in stores:
        final = platform.store(store.id)
        assert final.deleted_at is not None and final.active_name is None
        assert platform.kube.get("v1", "Namespace", store.namespace) is None, f"{store.namespace} left behind"
        assert platform.namespaces_of(store.id) == [], f"a namespace labelled with {store.id} is left"
        actions = platform.actions(store.id)
        assert actions[0] == "store.create" and actions[-2:] == ["store.delete", "store.deleted"], actions
        assert "store.ready" not in actions and "store.failed" not in actions, actions
    states = {f"{moment}+{delay}s": deleted_while[s.id] for s, (moment, delay) in zip(stores, TRIGGERS, strict=True)}
    print(
        f"\ndelete racing the reconciler: {len(stores)} stores deleted, namespaces gone; state when deleted: {states}"
    )
