"""Gauges read from the database at scrape time: the same numbers whichever process is
scraped (portal or worker), and never stale, since nothing has to remember to update them.

One scrape costs four small queries on one connection: a GROUP BY over the stores (by
engine, status, health), a count of the stores past their provisioning timeout (both use
`ix_stores_status`), and the cluster-status and lease rows (primary keys).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from provisioning.engines import ENGINES
from provisioning.lease import LEASE_NAME
from provisioning.models import ClusterStatus, FailureKind, Store, StoreStatus, WorkerLease, utcnow
from provisioning.settings import Settings

log = logging.getLogger(__name__)

STATUSES = tuple(s.value for s in StoreStatus)
HEALTHS = ("working", "erroring", "degraded")


class HasDatabase(Protocol):
    db: Engine
    settings: Settings


def bounded(value: str | None, allowed: Iterable[str]) -> str:
    """A label value from a known set; anything else (a future value, bad data) is "other"."""
    return value if value in tuple(allowed) else "other"


class StoreCollector(Collector):
    """Scrape-time gauges of one platform's database. `source` returns the platform (it may
    be built lazily, as the portal's is); if it or the database fails, the scrape still
    answers, with `store_platform_database_up` 0 and the in-process metrics."""

    def __init__(self, source: Callable[[], HasDatabase]) -> None:
        self._source = source

    def describe(self) -> Iterable[Any]:
        return []  # collected only at scrape time: never touch the database at registration

    def collect(self) -> Iterable[Any]:
        up = GaugeMetricFamily(
            "store_platform_database_up", "1 if this scrape could read the platform's database, else 0."
        )
        try:
            families = self._read(self._source())
        except Exception as error:  # the scrape must answer even when the database does not
            log.warning("metrics: could not read the database: %s", str(error).splitlines()[0][:300])
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _read(self, platform: HasDatabase) -> list[Any]:
        settings = platform.settings
        now = utcnow()
        cutoff = now - timedelta(seconds=settings.provisioning_timeout_seconds)
        with Session(platform.db) as session:
            grouped = session.execute(
                select(Store.engine, Store.status, Store.health, func.count()).group_by(
                    Store.engine, Store.status, Store.health
                )
            ).all()
            past_timeout = session.execute(
                select(func.count())
                .select_from(Store)
                .where(
                    or_(
                        and_(
                            col(Store.status) == StoreStatus.PROVISIONING,
                            col(Store.provisioning_started_at) < cutoff,
                        ),
                        and_(col(Store.status) == StoreStatus.FAILED, col(Store.failure_kind) == FailureKind.TIMEOUT),
                    )
                )
            ).scalar_one()
            cluster = session.get(ClusterStatus, 1)
            lease = session.get(WorkerLease, LEASE_NAME)

        by_status: dict[tuple[str, str], int] = {(e, s): 0 for e in ENGINES for s in STATUSES}
        by_health: dict[tuple[str, str], int] = {(e, h): 0 for e in ENGINES for h in HEALTHS}
        for engine, status, health, count in grouped:
            engine_label = bounded(engine, ENGINES)
            key = (engine_label, bounded(status, STATUSES))
            by_status[key] = by_status.get(key, 0) + count
            if status != StoreStatus.DELETED:
                hkey = (engine_label, bounded(health, HEALTHS))
                by_health[hkey] = by_health.get(hkey, 0) + count

        stores = GaugeMetricFamily(
            "store_platform_stores", "Stores by engine and status (deleted rows are kept).", labels=["engine", "status"]
        )
        for (engine, status), count in sorted(by_status.items()):
            stores.add_metric([engine, status], count)
        health = GaugeMetricFamily(
            "store_platform_stores_health",
            "Stores not deleted, by engine and health (working, erroring, degraded).",
            labels=["engine", "health"],
        )
        for (engine, value), count in sorted(by_health.items()):
            health.add_metric([engine, value], count)
        overdue = GaugeMetricFamily(
            "store_platform_stores_past_timeout",
            "Stores not ready PROVISIONING_TIMEOUT_SECONDS after provisioning started "
            "(still provisioning, or failed on the timeout and still watched).",
        )
        overdue.add_metric([], past_timeout)
        held = GaugeMetricFamily(
            "store_platform_reconciler_lease_held",
            "1 if some reconciler holds an unexpired database lease (any process), else 0.",
        )
        expires = lease.expires_at if lease is not None else None
        held.add_metric([], 1 if lease is not None and lease.holder and expires and expires > now else 0)
        families = [stores, health, overdue, held]
        if cluster is not None:  # no row yet: no reconciler ever probed the cluster
            reachable = GaugeMetricFamily(
                "store_platform_cluster_reachable",
                "1 if the reconciler's last probe reached the Kubernetes API (the portal's banner), else 0.",
            )
            reachable.add_metric([], 1 if cluster.reachable else 0)
            checked = GaugeMetricFamily(
                "store_platform_cluster_checked_timestamp_seconds",
                "Unix time of the reconciler's last cluster probe.",
            )
            if cluster.checked_at is not None:
                checked.add_metric([], cluster.checked_at.timestamp())
                families.append(checked)
            families.append(reachable)
        return families
