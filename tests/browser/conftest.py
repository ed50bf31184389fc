"""The real portal (`streamlit run app.py`) on a free port, and Debian's Chromium via Playwright.

The portal runs as a subprocess exactly as `make run` starts it, with its reconciler
thread talking to the session's real control plane.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import new_client_from_config

from provisioning.kube import KubeCluster
from provisioning.models import Role
from provisioning.platform import Platform
from provisioning.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORDS = {"admin": "admin-password-123", "alice": "alice-password-1", "bob": "bob-password-12"}


@dataclass
class Portal:
    url: str
    platform: Platform
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"portal exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"portal not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def portal(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    workdir = tmp_path_factory.mktemp("portal")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'portal.db'}",
        "ADMIN_PASSWORD": PASSWORDS["admin"],
        "COOKIE_KEY": "browser-test-cookie-key",
        "LOCAL_SECRETS_FILE": str(workdir / "secrets.env"),
        "KUBECONFIG": str(control_plane.kubeconfig),
        "KUBE_CONTEXT": "",
        "RECONCILE_INTERVAL_SECONDS": "0.5",
        "RUN_RECONCILER": "true",
    }
    settings = Settings.from_env(env)
    cluster = KubeCluster(new_client_from_config(config_file=str(control_plane.kubeconfig)), context="test")
    platform = Platform.build(settings, secrets=cluster)
    admin = platform.users.get_actor("admin")
    for name in ("alice", "bob"):
        platform.users.create_user(admin, name, PASSWORDS[name], role=Role.USER)
    port = _free_port()
    log = workdir / "portal.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield Portal(url=url, platform=platform, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        platform.db.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = next((c for c in CHROMIUM_CANDIDATES if shutil.which(c)), None)
    if executable is None:
        pytest.skip("Chromium not installed: apt-get install chromium (make test does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python) not installed: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
