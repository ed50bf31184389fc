"""Shared pieces of the reliability and security tests.

- `StorePlatform` (tests/shared/platform.py): one test's platform on PostgreSQL (or
  SQLite) and the session's real control plane.
- `WorkerProcess`: `python -m provisioning.worker` as a subprocess, exactly as the chart
  runs it, with its own log file; SIGKILL or SIGTERM it by pid.
- `RestartablePostgres`: a PostgreSQL server the test owns, so it can stop and start it
  (tests/postgres_plugin.LocalPostgres).
- `LogCapture`: every log record of every logger, for counting and for secret searches.
- `wait_until`: poll with a deadline and a message (tests/shared/waiting.py).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.postgres_plugin import LocalPostgres
from tests.shared.apptest import portal_navigation
from tests.shared.platform import StorePlatform
from tests.shared.portal import ADMIN_PASSWORD, COOKIE_KEY, ROOT, portal_env, unique
from tests.shared.waiting import wait_until

__all__ = [
    "ADMIN_PASSWORD",
    "COOKIE_KEY",
    "ROOT",
    "LogCapture",
    "RestartablePostgres",
    "StorePlatform",
    "WorkerProcess",
    "capture_logs",
    "portal_navigation",
    "unique",
    "wait_until",
    "worker_env",
]

# The PostgreSQL a test may stop and start: the session's way of starting one.
RestartablePostgres = LocalPostgres


# -- the worker as its own process ---------------------------------------------------------


def worker_env(database_url: str, kubeconfig: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The worker's environment: the portal's (``portal_env``) with the reliability tests'
    interval, concurrency and timeout, and none of the variables that would point it
    elsewhere (in-cluster KUBERNETES_*, STORE_QUOTA_* overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "STORE_QUOTA_"))}
    env.update(portal_env(tmp_path, database_url=database_url, kubeconfig=kubeconfig, reconciler=None))
    env.update(
        {
            "RECONCILE_INTERVAL_SECONDS": "0.2",
            "MAX_CONCURRENT_PROVISIONING": "5",
            "PROVISIONING_TIMEOUT_SECONDS": "300",
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
