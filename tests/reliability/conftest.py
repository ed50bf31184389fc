"""Fixtures of the reliability tests: a platform on PostgreSQL and the real control plane,
and a PostgreSQL server of the tests' own that they may stop and start."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import RestartablePostgres, StorePlatform


@pytest.fixture
def pg_platform(tmp_path: Path, postgres_url: str, control_plane: Any) -> Iterator[StorePlatform]:
    platform = StorePlatform(tmp_path, postgres_url, control_plane.kubeconfig)
    try:
        yield platform
    finally:
        platform.cleanup()


@pytest.fixture(scope="session")
def restartable_postgres() -> Iterator[RestartablePostgres]:
    try:
        server = RestartablePostgres()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"cannot start a PostgreSQL of our own: {error}")
    try:
        yield server
    finally:
        server.destroy()
