"""The real portal (`streamlit run asgi.py`: pages + REST API) on a free port, and Debian's Chromium.

The portal runs as a subprocess exactly as `make run` starts it, with its reconciler
thread talking to the session's real control plane.
"""

from __future__ import annotations

import os
import shutil
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
from tests.servers import ROOT, run_portal

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORDS = {"admin": "admin-password-123", "alice": "alice-password-1", "bob": "bob-password-12"}


@dataclass
class Portal:
    url: str
    platform: Platform
    log: Path


@pytest.fixture(scope="module")
def portal(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    workdir = tmp_path_factory.mktemp("portal")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'portal.db'}",
        "ADMIN_PASSWORD": PASSWORDS["admin"],
        "COOKIE_KEY": "browser-test-cookie-key-0123456789abcdef",
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
    log = workdir / "portal.log"
    try:
        with run_portal(env, log) as url:
            yield Portal(url=url, platform=platform, log=log)
    finally:
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
