"""Shared pieces of the reliability and security tests.

- `StorePlatform`: one test's platform on PostgreSQL (or SQLite) and the session's real
  control plane: services, a KubeCluster, and readers for rows, audit and cluster objects.
- `WorkerProcess`: `python -m provisioning.worker` as a subprocess, exactly as the chart
  runs it, with its own log file; SIGKILL or SIGTERM it by pid.
- `RestartablePostgres`: a PostgreSQL server the test owns, so it can stop and start it.
- `LogCapture`: every log record of every logger, for counting and for secret searches.
- `wait_until`: poll with a deadline and a message.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from kubernetes import config as kube_config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.engines.base import LABEL_STORE_ID
from provisioning.kube import KubeCluster
from provisioning.models import AuditEvent, Role, Store, WorkerLease
from provisioning.service import StoreService
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.conftest import make_settings
from tests.postgres_plugin import PG_BIN_CANDIDATES, _as_server_user, _free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "reliability-admin-pw-1"
COOKIE_KEY = "reliability-cookie-key-0123456789"
T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float, interval: float = 0.2, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


# -- the platform under test ---------------------------------------------------------------


class StorePlatform:
    """Services on one database plus an admin KubeCluster on the session's control plane."""

    def __init__(self, tmp_path: Path, database_url: str, kubeconfig: Path | None, **overrides: Any) -> None:
        overrides.setdefault("provisioning_timeout_seconds", 300)
        overrides.setdefault("max_concurrent_provisioning", 5)
        overrides.setdefault("reconcile_interval_seconds", 0.2)
        overrides.setdefault("admin_password", ADMIN_PASSWORD)
        overrides.setdefault("cookie_key", COOKIE_KEY)
        self.tmp_path = tmp_path
        self.kubeconfig = kubeconfig
        self.settings: Settings = make_settings(tmp_path, database_url=database_url, **overrides)
        self.db: Engine = make_engine(database_url)
        migrate(self.db)
        self.kube: KubeCluster | None = None
        if kubeconfig is not None:
            self.kube = KubeCluster(kube_config.new_client_from_config(config_file=str(kubeconfig)), context="test")
        self.users = UserService(self.db, self.settings)
        self.users.ensure_first_admin()
        self.admin: Actor = self.users.get_actor("admin")
        self.users.create_user(self.admin, "alice", "alice-password-1", role=Role.USER)
        self.alice: Actor = self.users.get_actor("alice")
        self.stores = StoreService(self.db, self.settings, secrets=self.kube)
        self.created: list[Store] = []

    # -- rows -------------------------------------------------------------------------------

    def create(self, prefix: str, actor: Actor | None = None) -> Store:
        store = self.stores.create_store(actor or self.alice, unique(prefix))
        self.created.append(store)
        return store

    def store(self, store_id: str) -> Store:
        with Session(self.db) as session:
            store = session.get(Store, store_id)
            assert store is not None
            return store

    def actions(self, store_id: str) -> list[str]:
        with Session(self.db) as session:
            rows = session.exec(
                select(AuditEvent.action).where(AuditEvent.store_id == store_id).order_by(col(AuditEvent.id))
            )
            return list(rows.all())

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

    # -- cluster ----------------------------------------------------------------------------

    def inventory(self, namespace: str) -> Counter[str]:
        """How many of each kind live in the namespace (ReplicaSets and Pods included)."""
        assert self.kube is not None
        kinds = [
            ("v1", "Secret"),
            ("v1", "Service"),
            ("v1", "PersistentVolumeClaim"),
            ("v1", "ResourceQuota"),
            ("v1", "LimitRange"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "Deployment"),
            ("batch/v1", "Job"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("networking.k8s.io/v1", "Ingress"),
        ]
        counts: Counter[str] = Counter()
        for api_version, kind in kinds:
            counts[kind] = len(self.kube.list(api_version, kind, namespace=namespace))
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

    def secret_data(self, namespace: str) -> dict[str, str]:
        assert self.kube is not None
        secret = self.kube.get("v1", "Secret", "store-credentials", namespace=namespace)
        assert secret is not None, f"no credentials Secret in {namespace}"
        return dict(secret["data"])

    def cleanup(self) -> None:
        """Delete what the test's stores left in the shared cluster, without waiting."""
        if self.kube is not None:
            for store in self.created:
                try:
                    self.kube.delete("v1", "Namespace", store.namespace)
                except Exception as error:  # best effort: the cluster may be what the test broke
                    print(f"cleanup of {store.namespace} failed: {error}")
        self.db.dispose()


# -- the worker as its own process ---------------------------------------------------------


def worker_env(database_url: str, kubeconfig: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "STORE_QUOTA_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "KUBECONFIG": str(kubeconfig),
            "KUBE_CONTEXT": "",
            "RECONCILE_INTERVAL_SECONDS": "0.2",
            "MAX_CONCURRENT_PROVISIONING": "5",
            "PROVISIONING_TIMEOUT_SECONDS": "300",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "COOKIE_KEY": COOKIE_KEY,
            "LOCAL_SECRETS_FILE": str(tmp_path / "secrets.env"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class WorkerProcess:
    """`python -m provisioning.worker`, logging to its own file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "provisioning.worker"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def holds(self, holder: str | None) -> bool:
        """Whether a lease holder string (host:pid:thread) is this process."""
        return bool(holder) and f":{self.pid}:" in f"{holder}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release, exactly like an OOM kill or a node loss."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if not self.alive():
            return
        assert self.process is not None
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# -- a PostgreSQL the test can restart -----------------------------------------------------


class RestartablePostgres:
    """A throwaway PostgreSQL cluster started with Debian's initdb/pg_ctl (as in
    tests/postgres_plugin.py), whose server the test may stop and start on the same port."""

    def __init__(self) -> None:
        self.prefix = _as_server_user()
        if not PG_BIN_CANDIDATES or (os.geteuid() == 0 and not self.prefix):
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
        self.bin = PG_BIN_CANDIDATES[0]
        self.dir = Path(tempfile.mkdtemp(prefix="store-platform-pg-restart-"))
        if self.prefix:
            shutil.chown(self.dir, user="postgres")
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.options = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off -c max_connections=100"
        self._run("initdb", "-D", str(self.dir / "db"), "-U", "postgres", "-A", "trust")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self.prefix, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "db"), "-l", str(self.dir / "log"), "-w", "-o", self.options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.dir / "db"), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def new_database(self) -> str:
        name = f"r_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.dir / "db"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


# -- logs ----------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Keeps every record it sees, formatted, with its time (thread-safe)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[float, logging.LogRecord, str]] = []
        self._lock_records = threading.Lock()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a broken record must not break the test
            line = repr(record.msg)
        with self._lock_records:
            self.records.append((time.monotonic(), record, line))

    def between(
        self, start: float, end: float, *, level: int = logging.DEBUG, threads: tuple[str, ...] = ("",)
    ) -> list[str]:
        """Lines logged in [start, end] at `level` or above by threads whose name starts with one of `threads`."""
        with self._lock_records:
            return [
                line
                for at, record, line in self.records
                if start <= at <= end and record.levelno >= level and record.threadName.startswith(threads)
            ]

    def text(self) -> str:
        with self._lock_records:
            return "\n".join(line for _, _, line in self.records)


@contextmanager
def capture_logs(level: int = logging.DEBUG, *, every_logger: bool = False) -> Iterator[LogCapture]:
    """Attach a LogCapture to the root logger at `level`.

    With `every_logger`, every logger known now (and the kubernetes/urllib3/sqlalchemy
    families) is set to `level` too, overriding the platform's own quieting of the
    Kubernetes client: the secret tests want everything any library would ever print.
    """
    handler = LogCapture()
    root = logging.getLogger()
    saved = {"": root.level}
    root.setLevel(level)
    if every_logger:
        names = {*logging.Logger.manager.loggerDict, "kubernetes", "urllib3", "sqlalchemy", "streamlit"}
        for name in sorted(names):
            logger = logging.getLogger(name)
            saved[name] = logger.level
            logger.setLevel(level)
    root.addHandler(handler)
    # Loggers that do not propagate (Streamlit's own) get the handler directly.
    isolated = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in isolated:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger in isolated:
            logger.removeHandler(handler)
        for name, value in saved.items():
            logging.getLogger(name or None).setLevel(value)


@contextmanager
def portal_navigation() -> Iterator[None]:
    """Make AppTest route pages through app.py, as the running portal does.

    Streamlit keeps a process-wide flag, PagesManager.uses_pages_directory: True until the
    first st.navigation call, after which every run executes app.py (sign-in, banner,
    error handling) and app.py runs the page. AppTest resets the flag before every run,
    and since the repo has a pages/ folder, a run after switch_page() executes the page
    file alone, skipping app.py. Forcing the flag to False after the reset gives the
    server's steady state, so a test sees what a user of the running portal sees.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        PagesManager.__init__ = original  # type: ignore[method-assign]
