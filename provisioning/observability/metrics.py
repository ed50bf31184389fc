"""Every in-process metric, defined once per process in one module-level registry.

Why one module-level registry (and not one per Platform): the instruments below count what
this *process* does (Kubernetes requests, reconciler passes, sign-in failures), whichever
Platform object did it; defining them at import time means building Platform many times
(the tests do, `shared_platform` does per environment) never registers a name twice. The
reconciler running as a thread of the portal (local mode) and as its own worker process
use the same code and so the same instruments. What depends on a database (stores by
status, the lease, the cluster status row) is not here: `collector.StoreCollector` reads it
at scrape time, one per endpoint (`exposition`).

Names follow Prometheus conventions: prefix `store_platform_`, base units in the name
(`_seconds`), counters end in `_total`, and every label value comes from a bounded set
(never a store, user or namespace name).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

PREFIX = "store_platform_"
# `_created` series double every counter and histogram for a timestamp nobody alerts on.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# Causes a failed store is counted under: FailureKind's values plus the reconciler's own
# finding that a ready store's namespace vanished. Anything else is counted as "other".
FAILURE_CAUSES = ("timeout", "setup", "rejected", "namespace_missing", "other")
KUBE_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "WATCH")  # WATCH: the readiness caches (provisioning/watch/)

STORE_PROVISIONING_SECONDS = Histogram(
    "store_platform_store_provisioning_duration_seconds",
    "Seconds from a store's request to ready (first attempts; a retry's request time is not recorded).",
    ["engine"],
    buckets=(10, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600),
    registry=REGISTRY,
)
STORE_QUEUE_SECONDS = Histogram(
    "store_platform_store_queue_duration_seconds",
    "Seconds from a store's request to the first apply of its manifests (first attempts).",
    ["engine"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
STORE_FAILURES = Counter(
    "store_platform_store_failures_total",
    "Stores that turned failed, by cause (timeout, setup, rejected, namespace_missing, other).",
    ["cause"],
    registry=REGISTRY,
)
RECONCILER_PASS_SECONDS = Histogram(
    "store_platform_reconciler_pass_duration_seconds",
    "Duration of the reconciler passes this process ran as the lease holder.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
RECONCILER_PASS_ERRORS = Counter(
    "store_platform_reconciler_pass_errors_total",
    "Reconciler passes that raised (database down, a bug); the loop backs off and goes on.",
    registry=REGISTRY,
)
RECONCILER_LAST_PASS = Gauge(
    "store_platform_reconciler_last_pass_timestamp_seconds",
    "Unix time the last reconciler pass run as the lease holder in this process completed.",
    registry=REGISTRY,
)
RECONCILER_LEADER = Gauge(
    "store_platform_reconciler_leader",
    "1 while a reconciler of this process holds the database lease (the active worker), else 0.",
    registry=REGISTRY,
)
KUBE_REQUESTS = Counter(
    "store_platform_kube_requests_total",
    "Requests to the Kubernetes API, by verb and result (2xx, 3xx, 4xx, 5xx, error = no answer).",
    ["verb", "result"],
    registry=REGISTRY,
)
KUBE_REQUEST_SECONDS = Histogram(
    "store_platform_kube_request_duration_seconds",
    "Latency of Kubernetes API requests (the whole answer read), by verb.",
    ["verb"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20),
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "store_platform_database_errors_total",
    "Errors raised by the database driver, by SQLAlchemy error class (OperationalError = unreachable).",
    ["error"],
    registry=REGISTRY,
)
LOGIN_FAILURES = Counter(
    "store_platform_login_failures_total",
    "Sign-ins refused for a wrong password or unknown username (login form and API alike).",
    registry=REGISTRY,
)
LOGIN_LOCKOUTS = Counter(
    "store_platform_login_lockouts_total",
    "Temporary lockouts started after too many failed sign-ins.",
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "store_platform_api_requests_total",
    "REST API requests by route template (e.g. /api/stores/{store_id}), method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
API_REQUEST_SECONDS = Histogram(
    "store_platform_api_request_duration_seconds",
    "REST API request latency by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

for _cause in FAILURE_CAUSES:  # every cause present at 0, so rate() sees the first failure
    STORE_FAILURES.labels(cause=_cause)
for _verb in KUBE_VERBS:
    KUBE_REQUEST_SECONDS.labels(verb=_verb)
RECONCILER_LEADER.set(0)


# -- recording helpers: one call at each instrumented place ---------------------------------


def kube_request(verb: str, status: int | None, seconds: float) -> None:
    """One Kubernetes API request: its HTTP status, or None when no answer came."""
    verb = verb.upper() if verb.upper() in KUBE_VERBS else "OTHER"
    result = "error" if status is None else f"{min(max(status // 100, 1), 5)}xx"
    KUBE_REQUESTS.labels(verb=verb, result=result).inc()
    KUBE_REQUEST_SECONDS.labels(verb=verb).observe(seconds)


def failure_cause(kind: str | None) -> str:
    return kind if kind in FAILURE_CAUSES else "other"


def store_failed(kind: str | None, *, count: int = 1) -> None:
    if count:
        STORE_FAILURES.labels(cause=failure_cause(kind)).inc(count)


_leader = [False]  # this process's last lease check (a list: mutable without `global`)


def set_leader(leader: bool) -> None:
    _leader[0] = leader
    RECONCILER_LEADER.set(1 if leader else 0)


@contextmanager
def reconciler_pass() -> Iterator[None]:
    """Time one pass of the loop: counted as an error if it raises; its duration and the
    last-pass time are recorded only when this process held the lease for it."""
    began = time.perf_counter()
    try:
        yield
    except Exception:
        RECONCILER_PASS_ERRORS.inc()
        raise
    finally:
        if _leader[0]:  # set by this pass's lease check
            RECONCILER_PASS_SECONDS.observe(time.perf_counter() - began)
    if _leader[0]:
        RECONCILER_LAST_PASS.set_to_current_time()


def store_changed(store: Any, changes: dict[str, Any]) -> None:
    """A reconciler step's changes were saved to `store` (the row as saved): count a
    failure, observe time to ready and time in queue. First attempts only for the two
    durations, because a retry's request time is not kept."""
    if store is None:
        return
    engine = _engine_label(getattr(store, "engine", ""))
    first = not getattr(store, "attempts", 0)
    status = changes.get("status")
    if status == "failed":
        store_failed(changes.get("failure_kind"))
    elif status == "ready" and first and changes.get("ready_at") is not None:
        _observe_since(STORE_PROVISIONING_SECONDS, engine, store.created_at, changes["ready_at"])
    if changes.get("applied_at") is not None and first:
        _observe_since(STORE_QUEUE_SECONDS, engine, store.created_at, changes["applied_at"])


def watch_database(engine: Any) -> None:
    """Count every error the database driver raises through `engine` (connect included)."""
    from sqlalchemy import event

    def _on_error(context: Any) -> None:
        error = context.sqlalchemy_exception or context.original_exception
        DATABASE_ERRORS.labels(error=_error_label(error)).inc()

    event.listen(engine, "handle_error", _on_error)


def _error_label(error: BaseException) -> str:
    """The SQLAlchemy error class (a bounded set: sqlalchemy.exc), else the DBAPI base class."""
    from sqlalchemy import exc

    for cls in type(error).__mro__:
        if cls.__module__ == exc.__name__:
            return cls.__name__
    return "Error"


def api_request(route: str, method: str, status: int, seconds: float) -> None:
    API_REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    API_REQUEST_SECONDS.labels(route=route, method=method).observe(seconds)


def _observe_since(histogram: Histogram, engine: str, start: datetime | None, end: datetime) -> None:
    if start is None:
        return
    histogram.labels(engine=engine).observe(max(0.0, (end - start).total_seconds()))


def _engine_label(engine: str) -> str:
    from provisioning.engines import ENGINES

    return engine if engine in ENGINES else "other"
