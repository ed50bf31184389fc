"""Waiting for the builds `make test` runs beside the tests (scripts/background-builds.sh).

Why: on a cold machine the real node's builds, the Medusa server and the images take most
of an hour. The tests that need none of them run meanwhile; a fixture that needs one waits
here for its exit code, then finds the cache as it always does. Outside `make test`
(STORE_PLATFORM_BUILDS unset) nothing waits: a missing build is the usual skip.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ENV = "STORE_PLATFORM_BUILDS"
TIMEOUT_SECONDS = 90 * 60  # CI's whole budget: a build still running after that is stuck
POLL_SECONDS = 2.0


def builds_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def pending(names: tuple[str, ...], directory: Path | None = None) -> list[str]:
    """The builds among `names` that have not ended yet (none when nothing runs beside us)."""
    directory = directory or builds_dir()
    if directory is None:
        return []
    return [name for name in names if not (directory / f"{name}.rc").exists()]


def wait_for_builds(*names: str, timeout: float = TIMEOUT_SECONDS) -> None:
    """Block until the named background builds have ended; fail the test if one failed."""
    directory = builds_dir()
    if directory is None:
        return
    deadline = time.monotonic() + timeout
    while missing := pending(names, directory):
        if time.monotonic() > deadline:
            pytest.fail(f"still building after {timeout / 60:.0f} min: {', '.join(missing)} (logs in {directory})")
        time.sleep(POLL_SECONDS)
    for name in names:
        code = (directory / f"{name}.rc").read_text().strip()
        if code != "0":
            log = directory / f"{name}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else "(no log)"
            pytest.fail(f"the {name} build failed (exit {code}); the end of {log}:\n{tail}", pytrace=False)


# What each area of the suite needs from the background builds: the fixtures wait for
# these names, and the scheduler sends their tests after the others while they build.
REAL_NODE = ("node", "coredns", "images")
INGRESS = ("traefik",)
NETWORK_POLICIES = ("netpol",)
MEDUSA = ("medusa",)
S3 = ("s3",)
# The real node's package may start once the node itself is built: its ingress and policy
# tests run last in it (tests/real_node/conftest.py) and wait for Traefik and the enforcer.
NEEDS_BY_PATH: dict[str, tuple[str, ...]] = {
    "tests/real_node/": REAL_NODE,
    "tests/store_software/": MEDUSA,
    "tests/backups/": S3,
    "tests/cluster/test_backups.py": S3,
    "tests/cluster/test_upgrades.py": S3,
}


def needs_of(path: str) -> tuple[str, ...]:
    """The background builds a test file (or package path) needs."""
    return next((names for prefix, names in NEEDS_BY_PATH.items() if path.startswith(prefix)), ())
