"""Run the image's two entry commands the way the container would, without Docker.

The app tree is rebuilt from the Dockerfile's own COPY lines into a read-only directory
(the image's WORKDIR, owned by root), the environment starts from the Dockerfile's ENV,
and the commands are the Dockerfile's CMD (portal) and the chart's worker command, run by
this venv's interpreter (the image installs the same pinned requirements.txt). So a module
the image forgets to COPY, a write into the read-only app dir, or a worker that does not
stop on SIGTERM fails here.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import yaml

from tests.helm.dockerfile_lint import parse
from tests.shared.servers import free_port
from tests.shared.waiting import WaitTimeout, wait_for

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOCKERFILE = parse((ROOT / "Dockerfile").read_text())
CHART_VALUES = yaml.safe_load((ROOT / "helm" / "store-platform" / "values.yaml").read_text())

pytestmark = pytest.mark.slow


def _make_read_only(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        mode = item.stat().st_mode
        item.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _make_writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(item.stat().st_mode | stat.S_IWUSR)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The image's WORKDIR: exactly what the Dockerfile COPYs, read-only."""
    app = tmp_path_factory.mktemp("image") / "app"
    app.mkdir()
    for sources, dest in DOCKERFILE.copies():
        for source in sources:
            src = ROOT / source.rstrip("/")
            if (dest.endswith("/") and not src.is_dir()) or dest in ("./", "."):
                target = app / dest / src.name
            else:
                target = app / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, target)
    _make_read_only(app)
    yield app
    _make_writable(app)


@pytest.fixture
def image_env(tmp_path: Path) -> dict[str, str]:
    """The container's environment: the Dockerfile's ENV, then what the chart sets."""
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "LANG": "C.UTF-8",
    }
    env.update(DOCKERFILE.env())
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        {
            "HOME": str(home),  # /tmp in the image (an emptyDir in the chart)
            "DATABASE_URL": f"sqlite:///{tmp_path / 'platform.db'}",
            "LOCAL_SECRETS_FILE": str(tmp_path / "secrets.env"),
            "ADMIN_PASSWORD": "image-test-admin-password",
            "COOKIE_KEY": "image-test-cookie-key-0123456789abcdef",
            # Never the developer's cluster: an empty kubeconfig and a context nobody has.
            "KUBECONFIG": str(tmp_path / "kubeconfig"),
            "KUBE_CONTEXT": "no-such-context",
            "RECONCILE_INTERVAL_SECONDS": "0.2",
            "LOG_LEVEL": "INFO",
        }
    )
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    return env


def _command(argv: list[str]) -> list[str]:
    """Resolve the image's executables to this venv's (python, streamlit)."""
    return [str(VENV_BIN / argv[0]), *argv[1:]]


class OutputReader:
    """Collects a process's merged output on a thread, so waiting never blocks on a pipe."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()
        self.proc = proc

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(self, needle: str, timeout: float) -> str:
        """The output once ``needle`` is in it; fails at once if the process exits first."""

        def seen() -> bool:
            if needle in self.text():
                return True
            if self.proc.poll() is not None:
                self._thread.join(timeout=2)
                assert needle in self.text(), f"{needle!r} not seen before the process exited; output:\n{self.text()}"
                return True
            return False

        try:
            wait_for(seen, timeout=timeout, interval=0.05, message=repr(needle))
        except WaitTimeout:
            raise AssertionError(f"{needle!r} not seen within {timeout}s; output:\n{self.text()}") from None
        return self.text()

    def finish(self, timeout: float) -> str:
        self._thread.join(timeout=timeout)
        return self.text()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_worker_starts_reports_unreachable_cluster_and_stops_on_sigterm(
    app_dir: Path, image_env: dict[str, str]
) -> None:
    command = _command(CHART_VALUES["worker"]["command"])
    proc = subprocess.Popen(
        command, cwd=app_dir, env=image_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    reader = OutputReader(proc)
    try:
        output = reader.wait_for("cluster unreachable", timeout=60)
        assert "reconciler" in output and "started" in output
        assert "no-such-context" in output
        assert proc.poll() is None, "the worker must keep running while the cluster is away"

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - started
        output = reader.finish(timeout=5)
        assert proc.returncode == 0, output
        assert elapsed < 5, f"stopped after {elapsed:.1f}s"
        assert "signal 15 received" in output
        assert "stopped" in output.split("signal 15 received", 1)[1]
    finally:
        _stop(proc)
    # It wrote nothing into the (read-only) app directory and kept its secrets where told.
    assert not (app_dir / "store_platform.db").exists()
    assert not Path(image_env["LOCAL_SECRETS_FILE"]).exists(), "ADMIN_PASSWORD/COOKIE_KEY were given"


def test_worker_exits_with_an_error_on_bad_settings(app_dir: Path, image_env: dict[str, str]) -> None:
    env = dict(image_env, MAX_STORES_PER_USER="zero")
    proc = subprocess.run(
        _command(CHART_VALUES["worker"]["command"]),
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "MAX_STORES_PER_USER" in proc.stdout + proc.stderr


def test_portal_serves_health_and_the_healthcheck_script_agrees(app_dir: Path, image_env: dict[str, str]) -> None:
    cmd = DOCKERFILE.last("CMD")
    assert cmd is not None
    argv = cmd.exec_form()
    assert argv is not None
    port = free_port()
    argv = [f"--server.port={port}" if a.startswith("--server.port=") else a for a in argv]
    # Same command; bound to loopback so the test exposes nothing.
    argv = ["--server.address=127.0.0.1" if a.startswith("--server.address=") else a for a in argv]
    env = dict(image_env, RUN_RECONCILER="false")
    proc = subprocess.Popen(
        _command(argv), cwd=app_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    reader = OutputReader(proc)
    url = f"http://127.0.0.1:{port}/_stcore/health"
    try:

        def health() -> tuple[int, str] | None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return response.status, response.read().decode()
            except (urllib.error.URLError, OSError):
                assert proc.poll() is None, f"streamlit exited: {reader.finish(timeout=5)}"
                return None

        status, body = wait_for(health, timeout=60, interval=0.3, message="the portal's health endpoint")
        assert (status, body) == (200, "ok")

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.status == 200
            assert "<html" in response.read().decode().lower()

        script = app_dir / "docker" / "healthcheck.py"
        check = subprocess.run(
            [str(VENV_BIN / "python"), str(script), url], env=env, capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        assert "healthy" in check.stdout

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert proc.returncode in (0, -signal.SIGTERM), reader.finish(timeout=5)

        down = subprocess.run(
            [str(VENV_BIN / "python"), str(script), url], env=env, capture_output=True, text=True, timeout=30
        )
        assert down.returncode == 1
        assert "unhealthy" in down.stderr
    finally:
        _stop(proc)
