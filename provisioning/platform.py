"""Wiring: settings -> database -> services (-> reconciler). Used by the portal and worker.

Kept out of app.py so the worker, the tests and the benchmarks build the exact same
objects the portal does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine as DbEngine

from provisioning.db import make_engine, migrate
from provisioning.errors import ClusterUnavailableError
from provisioning.identity import TokenService
from provisioning.kube import KubeCluster, StoreInsight
from provisioning.local_secrets import LocalSecrets
from provisioning.notifications.dispatcher import Dispatcher
from provisioning.notifications.webhooks import WebhookService
from provisioning.operations.store_logs import ContainerLog
from provisioning.operations.store_reads import ClusterReader
from provisioning.reconciler import Reconciler
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService

log = logging.getLogger(__name__)


class LazyClusterReader:
    """Connects to the cluster on first use, so the portal starts without one.

    Serves the two on-demand reads of the store page (a button press, never a refresh):
    the admin password and the store's live insight.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cluster: KubeCluster | None = None
        self._lock = threading.Lock()

    def _connected(self) -> KubeCluster:
        with self._lock:
            if self._cluster is None:
                self._cluster = KubeCluster.connect(self.settings)
            return self._cluster

    def _reset(self) -> None:
        with self._lock:
            self._cluster = None

    def read_secret_value(self, namespace: str, name: str, key: str) -> str:
        try:
            return self._connected().read_secret_value(namespace, name, key)
        except ClusterUnavailableError:
            self._reset()
            raise

    def insight(self, namespace: str) -> StoreInsight:
        try:
            return self._connected().insight(namespace)
        except ClusterUnavailableError:
            self._reset()
            raise

    def store_logs(self, namespace: str, *, tail_lines: int) -> list[ContainerLog]:
        try:
            return self._connected().store_logs(namespace, tail_lines=tail_lines)
        except ClusterUnavailableError:
            self._reset()
            raise


@dataclass
class Platform:
    settings: Settings
    db: DbEngine
    stores: StoreService
    users: UserService
    admin_password_location: str | None = None
    reconciler_thread: threading.Thread | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    # Personal API tokens, on the same database (built from db and settings, whoever builds this).
    tokens: TokenService = field(init=False)
    # Webhooks (Notifications page) and their delivery thread, beside the reconciler.
    webhooks: WebhookService = field(init=False)
    dispatcher_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.tokens = TokenService(self.db, self.settings)
        self.webhooks = WebhookService(self.db, self.settings, platform_key=self.cookie_key)

    @classmethod
    def build(cls, settings: Settings | None = None, *, secrets: ClusterReader | None = None) -> Platform:
        settings = settings or Settings.from_env()
        db = make_engine(settings.database_url)
        migrate(db)
        platform = cls(
            settings=settings,
            db=db,
            stores=StoreService(db, settings, secrets=secrets or LazyClusterReader(settings)),
            users=UserService(db, settings),
        )
        platform.admin_password_location = platform.users.ensure_first_admin(
            local_secrets=LocalSecrets(settings.local_secrets_file)
        )
        return platform

    def cookie_key(self) -> str:
        import secrets as stdlib_secrets

        if self.settings.cookie_key:
            return self.settings.cookie_key
        return LocalSecrets(self.settings.local_secrets_file).get_or_create(
            "COOKIE_KEY", lambda: stdlib_secrets.token_urlsafe(32)
        )

    def make_reconciler(self) -> Reconciler:
        return Reconciler(
            self.db,
            self.settings,
            lambda: KubeCluster.connect(self.settings),
            identity=f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}",
        )

    def start_reconciler_thread(self) -> None:
        if self.reconciler_thread is not None:
            return
        reconciler = self.make_reconciler()
        self.reconciler_thread = threading.Thread(
            target=reconciler.run_forever, args=(self.stop_event,), name="reconciler", daemon=True
        )
        self.reconciler_thread.start()
        self.start_dispatcher_thread()

    def make_dispatcher(self) -> Dispatcher:
        return Dispatcher(self.db, self.settings, platform_key=self.cookie_key)

    def start_dispatcher_thread(self) -> None:
        """Webhook deliveries, in their own thread: a slow receiver never delays a pass."""
        if self.dispatcher_thread is not None:
            return
        self.dispatcher_thread = threading.Thread(
            target=self.make_dispatcher().run_forever, args=(self.stop_event,), name="webhooks", daemon=True
        )
        self.dispatcher_thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.reconciler_thread is not None:
            self.reconciler_thread.join(timeout=30)
        if self.dispatcher_thread is not None:
            self.dispatcher_thread.join(timeout=30)


_SHARED: dict[str, Platform] = {}
_SHARED_LOCK = threading.Lock()


def shared_platform() -> Platform:
    """The process's Platform for the current environment, built once (portal pages, API).

    Keyed by the environment so tests that point at different databases stay apart; the
    reconciler thread starts with it when RUN_RECONCILER is on, so the API alone (no
    browser session yet) provisions stores too.
    """
    from provisioning.logging_setup import configure_logging

    joined = "|".join(f"{k}={os.environ[k]}" for k in sorted(os.environ) if not k.startswith("STREAMLIT"))
    key = hashlib.sha256(joined.encode()).hexdigest()
    with _SHARED_LOCK:
        platform = _SHARED.get(key)
        if platform is None:
            configure_logging()
            settings = Settings.from_env()
            platform = Platform.build(settings)
            if platform.admin_password_location:
                print(
                    f"First admin {settings.admin_username!r} created; its password is in "
                    f"{platform.admin_password_location}",
                    flush=True,
                )
            if settings.run_reconciler:
                platform.start_reconciler_thread()
            _SHARED[key] = platform
        return platform
