"""Reading Prometheus text as Prometheus does (prometheus_client's parser), for the metric
tests: unit, cluster and chart (alert rules and dashboard expressions)."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

PREFIX = "store_platform_"
# Label names that would carry unbounded values (a store, a user, a namespace, a host).
FORBIDDEN_LABELS = frozenset(
    {
        "store",
        "store_id",
        "store_name",
        "name",
        "namespace",
        "user",
        "username",
        "owner",
        "email",
        "holder",
        "identity",
        "host",
        "hostname",
        "pod",
        "path",
        "url",
        "id",
    }
)
METRIC_NAME = re.compile(r"\b(" + PREFIX + r"[a-zA-Z0-9_]+)")


class Scrape:
    """One scrape's samples, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples: list[Sample] = [s for f in self.families for s in f.samples]

    def family(self, name: str) -> Metric:
        matches = [f for f in self.families if f.name == name]
        assert matches, f"no metric family {name} in the scrape"
        return matches[0]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 if none)."""
        return sum(
            s.value for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.samples)

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def scrape(url: str, *, timeout: float = 10) -> Scrape:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200, response.status
        assert response.headers["Content-Type"].startswith("text/plain"), response.headers["Content-Type"]
        return Scrape(response.read().decode())


def metric_names_in(expression: str) -> set[str]:
    """The platform's metric names a PromQL expression (or dashboard query) reads."""
    return set(METRIC_NAME.findall(expression))


def exposed_names(families: Iterable[object]) -> set[str]:
    """Every series name a scrape can contain: family names plus their sample names."""
    names: set[str] = set()
    for family in families:
        names.add(family.name)  # type: ignore[attr-defined]
        names.update(s.name for s in family.samples)  # type: ignore[attr-defined]
    return names


def exercise_every_instrument() -> None:
    """One event of each kind in this process, so every labelled family has samples."""
    from provisioning.observability import metrics

    metrics.kube_request("GET", 200, 0.01)
    metrics.store_failed("setup")
    metrics.api_request("/api/stores/{store_id}", "GET", 200, 0.01)
    metrics.DATABASE_ERRORS.labels(error="OperationalError")
    metrics.STORE_PROVISIONING_SECONDS.labels(engine="woocommerce")
    metrics.STORE_QUEUE_SECONDS.labels(engine="woocommerce")
    with metrics.reconciler_pass():
        pass


def everything_scraped(tmp_path: Path) -> Scrape:
    """A scrape in which every metric the platform defines has a sample: a platform on a
    fresh SQLite database with a store, a lease holder and a cluster-status row."""
    from sqlmodel import Session

    from provisioning import lease
    from provisioning.models import ClusterStatus, utcnow
    from provisioning.observability.exposition import render
    from provisioning.platform import Platform
    from tests.shared.portal import create_users, make_settings

    platform = Platform.build(make_settings(tmp_path))
    try:
        alice = create_users(platform.users, "alice")["alice"]
        platform.stores.create_store(alice, "every-metric")
        lease.try_acquire(platform.db, "scrape-test", ttl_seconds=30)
        with Session(platform.db) as session:
            session.add(ClusterStatus(id=1, reachable=True, checked_at=utcnow()))
            session.commit()
        exercise_every_instrument()
        return Scrape(render(lambda: platform).decode())
    finally:
        lease.release(platform.db, "scrape-test")
        platform.db.dispose()
