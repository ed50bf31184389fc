"""The drift check: notice stores whose namespace vanished from under them.

One LIST of the platform's namespaces every DRIFT_INTERVAL, whatever the number of
stores: a store that should have a namespace (SETTLED_IN_NAMESPACE) and has none is
failed with a message saying its data is gone; nothing else is read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from provisioning import audit, lease
from provisioning.actors import SYSTEM
from provisioning.db import session_scope
from provisioning.models import Store, StoreStatus
from provisioning.notifications import outbox
from provisioning.observability import metrics

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.lifecycle.decisions import Cluster

DRIFT_INTERVAL = timedelta(seconds=30)
# Stores whose namespace must exist: one that vanished under them fails (the drift check).
SETTLED_IN_NAMESPACE = (
    StoreStatus.READY,
    StoreStatus.SUSPENDING,
    StoreStatus.SUSPENDED,
    StoreStatus.RESUMING,
    StoreStatus.RESIZING,
    StoreStatus.RESTORING,
    StoreStatus.UPGRADING,
)


class DriftCheck:
    """A mixin of the Reconciler (which supplies db, cluster, clock and identity)."""

    db: DbEngine
    cluster: Cluster | None
    identity: str
    _last_drift: datetime | None = None

    def clock(self) -> datetime: ...

    def _drift_check(self) -> None:
        """One LIST of namespaces: finish deletions and notice ready stores that vanished."""
        assert self.cluster is not None
        now = self.clock()
        if self._last_drift and now - self._last_drift < DRIFT_INTERVAL:
            return
        present = self.cluster.managed_namespaces()
        self._last_drift = now
        lost = 0
        with session_scope(self.db) as session:
            lease.fence(session, self.identity)
            ready = session.exec(select(Store).where(col(Store.status).in_(SETTLED_IN_NAMESPACE))).all()
            for store in ready:
                if store.namespace not in present:
                    lost += 1
                    store.status = StoreStatus.FAILED
                    store.health = "erroring"
                    store.message = (
                        f"The store's namespace {store.namespace} disappeared from the cluster. "
                        "Retry to re-create it (its data is gone), or delete the store."
                    )
                    store.updated_at = now
                    session.add(store)
                    audit.record(
                        session,
                        actor=SYSTEM.username,
                        action="store.failed",
                        store_id=store.id,
                        store_name=store.name,
                        detail="namespace missing",
                    )
                    outbox.notify(session, "store.failed", {"status": StoreStatus.FAILED}, store, at=now)
        metrics.store_failed("namespace_missing", count=lost)
