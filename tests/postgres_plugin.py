"""A real PostgreSQL for the `postgres` tests.

Uses TEST_POSTGRES_URL when set (CI starts a server and sets it); otherwise starts a
throwaway cluster with Debian's initdb/pg_ctl on a free port when they are installed
(and we are not root, which PostgreSQL refuses); else the tests skip with the reason.
Each test gets a fresh database, so migrations run from scratch every time.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root; as root, run it as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _start_local_server() -> tuple[str, Path] | None:
    prefix = _as_server_user()
    if not PG_BIN_CANDIDATES or (os.geteuid() == 0 and not prefix):
        return None
    bin_dir = PG_BIN_CANDIDATES[0]
    data = Path(tempfile.mkdtemp(prefix="store-platform-pg-"))
    if prefix:
        shutil.chown(data, user="postgres")
    port = _free_port()
    initdb = [*prefix, bin_dir / "initdb", "-D", data / "db", "-U", "postgres", "-A", "trust"]
    subprocess.run(initdb, check=True, capture_output=True)
    options = f"-p {port} -k {data} -h 127.0.0.1 -c fsync=off -c max_connections=200"
    pg_ctl = [*prefix, bin_dir / "pg_ctl", "-D", data / "db", "-l", data / "log", "-w", "-o", options, "start"]
    subprocess.run(pg_ctl, check=True, capture_output=True)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", data


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        yield url
        return
    started = _start_local_server()
    if started is None:
        pytest.skip("PostgreSQL not available: set TEST_POSTGRES_URL (make test starts one)")
    url, data = started
    try:
        yield url
    finally:
        bin_dir = PG_BIN_CANDIDATES[0]
        subprocess.run(
            [*_as_server_user(), bin_dir / "pg_ctl", "-D", data / "db", "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
