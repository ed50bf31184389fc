"""A new store from another store's backup (a clone): what differs from a plain restore.

The clone provisions like any store (its own namespace, Secret, URL and plan), and at the
moment it would become `ready` it restores the chosen backup instead (restore_steps.py),
then re-runs its setup Job, which adopts the copied data: WooCommerce's setup moves the
site to the clone's URL (`wp search-replace`), Medusa's seed sets the clone's own
publishable key and adds the clone's admin user. What lives only in the copied database
and cannot be re-derived (WordPress's admin password hash) is copied from the source
store's Secret, so the password the portal reveals is the one that signs in.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provisioning.engines import get_engine
from provisioning.engines.base import SECRET_NAME
from provisioning.errors import ClusterRejectedError
from provisioning.models import Store, StoreStatus

if TYPE_CHECKING:
    from provisioning.engines.base import StoreSpec
    from provisioning.lifecycle.decisions import Cluster

log = logging.getLogger(__name__)


def pending(store: Store) -> bool:
    """A clone that has not had its data yet: its first `ready` becomes the restore."""
    return bool(store.cloned_from) and store.ready_at is None and store.restore_started_at is None


def restoring_clone(store: Store) -> bool:
    """The restore that gives a clone its data (not a later restore into it)."""
    return bool(store.cloned_from) and store.restore_backup_id == store.cloned_from and store.ready_at is None


def start_restore(store: Store, now: datetime) -> dict[str, Any]:
    """The changes that turn a provisioned clone into a restoring one."""
    return {
        "status": StoreStatus.RESTORING,
        "health": "working",
        "message": "Provisioned; copying the data of the backup it was cloned from: stopping the storefront.",
        "restore_backup_id": store.cloned_from,
        "restore_phase": "stopping",
        "restore_started_at": now,
        "scale_applied_at": None,
        "next_attempt_at": None,
        "failure_kind": None,
    }


def secret_values(cluster: Cluster, spec: StoreSpec, source_namespace: str) -> dict[str, str]:
    """Fresh credentials, with the engine's `clone_keys` taken from the source store's Secret.

    A source Secret that cannot be read (the store is being deleted) leaves fresh values:
    the clone still runs, and its restore fails on the missing backup if the source is gone."""
    engine = get_engine(spec.engine)
    values = engine.generate_secrets(spec)
    if not engine.clone_keys or not source_namespace:
        return values
    for key in engine.clone_keys:
        try:
            values[key] = cluster.read_secret_value(source_namespace, SECRET_NAME, key)
        except ClusterRejectedError:
            log.warning("clone of %s: the source store's Secret has no %s; a fresh one is used", spec.name, key)
    return values
