"""The real portal (`streamlit run asgi.py`: pages + REST API) on a free port, with its
reconciler thread talking to the session's real control plane; Chromium comes from the
shared browser plugin (tests/shared/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioning.platform import Platform
from tests.shared.platform import store_cluster
from tests.shared.portal import PASSWORDS, build_platform, portal_env
from tests.shared.servers import ROOT, run_portal

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

__all__ = ["PASSWORDS", "ROOT", "SCREENSHOTS", "Portal"]


@dataclass
class Portal:
    url: str
    platform: Platform
    log: Path


@pytest.fixture(scope="module")
def portal(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    workdir = tmp_path_factory.mktemp("portal")
    env = portal_env(
        workdir, kubeconfig=control_plane.kubeconfig, reconciler=True, inherit=True, RECONCILE_INTERVAL_SECONDS="0.5"
    )
    platform = build_platform(env, secrets=store_cluster(control_plane.kubeconfig))
    log = workdir / "portal.log"
    try:
        with run_portal(env, log) as url:
            yield Portal(url=url, platform=platform, log=log)
    finally:
        platform.db.dispose()
