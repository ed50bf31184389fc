"""One test's platform on the session's real control plane: services on its own database,
a KubeCluster, a reconciler (driven pass by pass, or in a thread), and readers for rows,
audit events and cluster objects. Used by the cluster, reliability and security tests."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import config as kube_config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.engines.base import LABEL_STORE_ID
from provisioning.kube import KubeCluster
from provisioning.models import AuditEvent, Store, WorkerLease
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.shared.portal import ADMIN_PASSWORD, COOKIE_KEY, create_users, make_settings, unique
from tests.shared.waiting import wait_for

R = TypeVar("R", bound=Reconciler)


def status_is(*statuses: str) -> Callable[[Store], bool]:
    """For `StorePlatform.drive`: the store is in one of `statuses`."""
    return lambda store: store.status in statuses


def store_row(db: Engine, store_id: str) -> Store:
    """The store's row as it is now in the database."""
    with Session(db) as session:
        store = session.get(Store, store_id)
        assert store is not None, f"no store {store_id}"
        return store


def set_store(db: Engine, store_id: str, **values: object) -> None:
    """Put a store's row in a state directly (a test's precondition, not a product path)."""
    with Session(db) as session:
        store = session.get(Store, store_id)
        assert store is not None, f"no store {store_id}"
        for key, value in values.items():
            setattr(store, key, value)
        session.add(store)
        session.commit()


def audit_actions(db: Engine, store_id: str) -> list[str]:
    """The store's audit actions, oldest first."""
    with Session(db) as session:
        rows = session.exec(
            select(AuditEvent.action).where(AuditEvent.store_id == store_id).order_by(col(AuditEvent.id))
        )
        return list(rows.all())


def store_cluster(kubeconfig: Path | str) -> KubeCluster:
    """The product's KubeCluster on a kubeconfig (the session's control plane)."""
    return KubeCluster(kube_config.new_client_from_config(config_file=str(kubeconfig)), context="test")


# The drivers' watch threads, ended after each test (tests/conftest.py) even when a test's
# fixture forgets cleanup(): otherwise each would keep 8 watches open for the whole session.
OPEN_WATCHES: list[threading.Event] = []


def stop_watches() -> None:
    while OPEN_WATCHES:
        OPEN_WATCHES.pop().set()


class StorePlatform:
    """Services on one database plus an admin KubeCluster on the session's control plane.

    ``database_url`` None: a fresh SQLite file in ``tmp_path``. ``kubeconfig`` None: no
    cluster (``kube`` is None). ``overrides`` are settings (``make_settings``).
    """

    def __init__(
        self,
        tmp_path: Path,
        database_url: str | None = None,
        kubeconfig: Path | None = None,
        *,
        users: tuple[str, ...] = ("alice",),
        **overrides: Any,
    ) -> None:
        overrides.setdefault("provisioning_timeout_seconds", 300)
        overrides.setdefault("max_concurrent_provisioning", 5)
        overrides.setdefault("reconcile_interval_seconds", 0.2)
        overrides.setdefault("admin_password", ADMIN_PASSWORD)
        overrides.setdefault("cookie_key", COOKIE_KEY)
        if database_url is not None:
            overrides["database_url"] = database_url
        self.tmp_path = tmp_path
        self.kubeconfig = kubeconfig
        self.settings: Settings = make_settings(tmp_path, **overrides)
        self.db: Engine = make_engine(self.settings.database_url)
        migrate(self.db)
        self.kube: KubeCluster | None = store_cluster(kubeconfig) if kubeconfig is not None else None
        self.users = UserService(self.db, self.settings)
        self.users.ensure_first_admin()
        self.admin: Actor = self.users.get_actor("admin")
        self.actors = create_users(self.users, *users)
        self.stores = StoreService(self.db, self.settings, secrets=self.kube)
        self.created: list[Store] = []
        self._driver: Reconciler | None = None
        self._watching = threading.Event()  # set at cleanup or the test's end: the driver's watches end
        OPEN_WATCHES.append(self._watching)

    @property
    def alice(self) -> Actor:
        return self.actors["alice"]

    # -- rows -------------------------------------------------------------------------------

    def create(self, prefix: str, actor: Actor | None = None) -> Store:
        """A store with a unique name (``prefix-xxxxx``), deleted from the cluster at cleanup."""
        store = self.stores.create_store(actor or self.alice, unique(prefix))
        self.created.append(store)
        return store

    def store(self, store_id: str) -> Store:
        return store_row(self.db, store_id)

    def actions(self, store_id: str) -> list[str]:
        return audit_actions(self.db, store_id)

    def lease(self) -> tuple[str, Any] | None:
        with Session(self.db) as session:
            row = session.get(WorkerLease, "reconciler")
            return (row.holder, row.expires_at) if row else None

    def dump_database(self) -> list[tuple[str, str, str]]:
        """Every column of every row of every table, as text: (table, column, value)."""
        cells: list[tuple[str, str, str]] = []
        with self.db.connect() as connection:
            for table in inspect(connection).get_table_names():
                columns = [c["name"] for c in inspect(connection).get_columns(table)]
                for row in connection.execute(text(f'SELECT * FROM "{table}"')).mappings():
                    cells.extend((table, column, "" if row[column] is None else str(row[column])) for column in columns)
        return cells

    # -- the reconciler ---------------------------------------------------------------------

    def make_reconciler(self, identity: str, *, cls: type[R] = Reconciler, fresh_client: bool = True) -> R:  # type: ignore[assignment]
        """The real reconciler on this platform's database and cluster. ``fresh_client``: a
        new KubeCluster each time it connects (as the worker does), else this one's ``kube``."""
        assert self.kubeconfig is not None, "a reconciler needs the control plane"
        kubeconfig = self.kubeconfig
        connect: Callable[[], KubeCluster] = (
            (lambda: store_cluster(kubeconfig)) if fresh_client else (lambda: self.kube)  # type: ignore[return-value]
        )
        return cls(self.db, self.settings, connect, identity=identity)

    @contextmanager
    def reconciling(self, identity: str, *, cls: type[R] = Reconciler) -> Iterator[R]:  # type: ignore[assignment]
        """The reconciler's own loop (``run_forever``) in a thread named ``<identity>``,
        stopped (and joined) on exit."""
        reconciler = self.make_reconciler(identity, cls=cls)
        stop = threading.Event()
        thread = threading.Thread(target=reconciler.run_forever, args=(stop,), name=identity, daemon=True)
        thread.start()
        try:
            yield reconciler
        finally:
            stop.set()
            thread.join(timeout=60)

    def wait_status(self, store_id: str, *statuses: str, timeout: float = 120, what: str | None = None) -> Store:
        """Wait (another process or thread reconciles) until the store is in one of
        ``statuses``; on timeout the failure names the store's last status and message."""

        def reached() -> Store | None:
            store = self.store(store_id)
            return store if store.status in statuses else None

        try:
            return wait_for(reached, timeout=timeout, what=what or f"store {store_id} to be {' or '.join(statuses)}")
        except AssertionError as error:
            store = self.store(store_id)
            raise AssertionError(f"{error}; last: {store.status}: {store.message}") from None

    def drive(
        self, store_id: str, until: Callable[[Store], bool], *, timeout: float = 90, interval: float = 0.3
    ) -> Store:
        """Run reconciler passes (this platform's own reconciler) until ``until(store)``
        holds; on timeout fail with the store's last status and message."""
        if self._driver is None:
            self._driver = self.make_reconciler(f"test-{unique('r')}", fresh_client=False)
            if self.settings.watch_cluster:  # as the worker's loop reads readiness (WATCH_CLUSTER)
                self._driver.watch_cluster(self._watching)
        driver = self._driver
        last: list[Store] = []

        def step() -> Store | None:
            driver.run_once()
            last[:] = [self.store(store_id)]
            return last[0] if until(last[0]) else None

        try:
            return wait_for(step, timeout=timeout, interval=interval, message=f"store {store_id} to reach the state")
        except AssertionError:
            store = last[0] if last else self.store(store_id)
            raise AssertionError(
                f"store {store.name} stuck at {store.status} after {timeout:g}s: {store.message}"
            ) from None

    # -- cluster ----------------------------------------------------------------------------

    def inventory(self, namespace: str) -> Counter[str]:
        """How many of each kind live in the namespace (ReplicaSets and Pods included).

        Jobs a CronJob started (WP-cron's, every few minutes) count as `Job/cron`: they are the
        CronJob controller's, and a slow test would otherwise see a second "Job"."""
        assert self.kube is not None
        kinds = [
            ("v1", "Secret"),
            ("v1", "Service"),
            ("v1", "PersistentVolumeClaim"),
            ("v1", "ResourceQuota"),
            ("v1", "LimitRange"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "Deployment"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("networking.k8s.io/v1", "Ingress"),
        ]
        counts: Counter[str] = Counter()
        for api_version, kind in kinds:
            counts[kind] = len(self.kube.list(api_version, kind, namespace=namespace))
        for job in self.kube.list("batch/v1", "Job", namespace=namespace):
            owners = {o.get("kind") for o in job["metadata"].get("ownerReferences") or []}
            counts["Job/cron" if "CronJob" in owners else "Job"] += 1
        replica_sets = self.kube._request("GET", f"/apis/apps/v1/namespaces/{namespace}/replicasets")
        counts["ReplicaSet"] = len(replica_sets.get("items", []))
        for pod in self.kube.list("v1", "Pod", namespace=namespace):
            component = pod["metadata"].get("labels", {}).get("app.kubernetes.io/component", "?")
            counts[f"Pod/{component}"] += 1
        return counts

    def namespaces_of(self, store_id: str) -> list[str]:
        assert self.kube is not None
        items = self.kube.list("v1", "Namespace", label_selector=f"{LABEL_STORE_ID}={store_id}")
        return [ns["metadata"]["name"] for ns in items]

    def namespace_gone(self, namespace: str, *, timeout: float = 90) -> None:
        assert self.kube is not None
        kube = self.kube
        wait_for(
            lambda: kube.get("v1", "Namespace", namespace) is None,
            timeout=timeout,
            interval=0.5,
            message=f"namespace {namespace} to be gone",
        )

    def volumes_released(self, volumes: set[str], *, timeout: float = 60) -> None:
        """Wait until none of the PersistentVolumes ``volumes`` exists any more."""
        assert self.kube is not None
        kube = self.kube
        wait_for(
            lambda: not volumes & {pv["metadata"]["name"] for pv in kube.list("v1", "PersistentVolume")},
            timeout=timeout,
            interval=0.5,
            message=f"volumes {sorted(volumes)} to be released",
        )

    def volumes_of(self, namespace: str) -> set[str]:
        assert self.kube is not None
        return {p["spec"]["volumeName"] for p in self.kube.list("v1", "PersistentVolumeClaim", namespace=namespace)}

    def hold_namespace(self, namespace: str) -> None:
        """Keep ``namespace`` in Terminating once deleted: a finalizer on an object in it."""
        assert self.kube is not None
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "held", "namespace": namespace, "finalizers": ["store-platform.io/test-hold"]},
            }
        )

    def release_namespace(self, namespace: str) -> None:
        """Undo ``hold_namespace``: the namespace's deletion can finish."""
        assert self.kube is not None
        self.kube._request(
            "PATCH",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/held",
            body={"metadata": {"finalizers": None}},
            content_type="application/merge-patch+json",
        )

    def secret_data(self, namespace: str) -> dict[str, str]:
        assert self.kube is not None
        secret = self.kube.get("v1", "Secret", "store-credentials", namespace=namespace)
        assert secret is not None, f"no credentials Secret in {namespace}"
        return dict(secret["data"])

    def cleanup(self) -> None:
        """Delete what the test's stores left in the shared cluster, without waiting."""
        self._watching.set()
        if self.kube is not None:
            for store in self.created:
                try:
                    self.kube.delete("v1", "Namespace", store.namespace)
                except Exception as error:  # best effort: the cluster may be what the test broke
                    print(f"cleanup of {store.namespace} failed: {error}")
        self.db.dispose()
