"""A real PostgreSQL for the `postgres` tests.

Uses TEST_POSTGRES_URL when set (CI starts a server and sets it); otherwise starts a
throwaway cluster with Debian's initdb/pg_ctl on a free port when they are installed
(as root, as Debian's `postgres` user: PostgreSQL refuses to run as root); else the tests
skip with the reason. The server is shared by the session and started in the background
as soon as collection shows a test needs it, in parallel with the control plane. Each
test gets a fresh database, so migrations run from scratch every time.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.shared.background import Background
from tests.shared.report import record_component
from tests.shared.servers import free_port

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
_free_port = free_port  # the old private name, kept for callers
SERVER_KEY = pytest.StashKey[Background["LocalPostgres"]]()
RESTARTABLE_KEY = pytest.StashKey[Background["LocalPostgres"]]()


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root; as root, run it as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return []
    return ["runuser", "-u", "postgres", "--"]


class LocalPostgres:
    """A throwaway PostgreSQL cluster (Debian's initdb/pg_ctl) on a free port, which its
    owner may stop and start again on the same port. The one way tests start PostgreSQL."""

    def __init__(self, *, max_connections: int = 200, prefix: str = "store-platform-pg-") -> None:
        self.prefix = _as_server_user()
        if not PG_BIN_CANDIDATES or (os.geteuid() == 0 and not self.prefix):
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
        self.bin = PG_BIN_CANDIDATES[0]
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        if self.prefix:
            shutil.chown(self.dir, user="postgres")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.options = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off -c max_connections={max_connections}"
        try:
            self._run("initdb", "-D", str(self.dir / "db"), "-U", "postgres", "-A", "trust")
            self.start()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

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

    def version(self) -> str:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def new_database(self) -> str:
        return create_database(self.url, prefix="r_")

    def destroy(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.dir / "db"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def create_database(server_url: str, *, prefix: str = "t_", template: str = "") -> str:
    """A fresh database on the server (empty, or a copy of `template`); its URL."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


def _shared_server() -> Background[LocalPostgres]:
    return Background("postgresql", LocalPostgres, LocalPostgres.destroy)


def _restartable_server() -> Background[LocalPostgres]:
    return Background(
        "restartable postgresql",
        lambda: LocalPostgres(max_connections=100, prefix="store-platform-pg-restart-"),
        LocalPostgres.destroy,
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the servers collected tests need now, in the background, in parallel (with
    each other and with the control plane)."""
    if session.config.option.collectonly:
        return
    needed = set().union(*(getattr(item, "fixturenames", ()) for item in session.items))
    # `database_url[postgres]` asks for the server at run time: its marker says so.
    marked = any(item.get_closest_marker("postgres") for item in session.items)
    if ("postgres_server_url" in needed or marked) and not os.environ.get("TEST_POSTGRES_URL"):
        session.config.stash[SERVER_KEY] = _shared_server()
    if "restartable_postgres" in needed:
        session.config.stash[RESTARTABLE_KEY] = _restartable_server()


def pytest_unconfigure(config: pytest.Config) -> None:
    for key in (SERVER_KEY, RESTARTABLE_KEY):
        started = config.stash.get(key, None)
        if started is not None:
            started.close()


def _started(config: pytest.Config, key: pytest.StashKey[Background[LocalPostgres]], start: Any) -> LocalPostgres:
    started = config.stash.get(key, None)
    if started is None:  # not announced at collection (e.g. requested dynamically)
        started = config.stash[key] = start()
    try:
        server = started.result()
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"cannot start a PostgreSQL of our own: {error}")
    record_component(config, "PostgreSQL", server.version())
    return server


@pytest.fixture(scope="session")
def postgres_server_url(pytestconfig: pytest.Config) -> str:
    """The session's PostgreSQL: TEST_POSTGRES_URL, else a LocalPostgres."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        with psycopg.connect(url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        record_component(pytestconfig, "PostgreSQL", str(row[0]) if row else "?")
        return url
    return _started(pytestconfig, SERVER_KEY, _shared_server).url


@pytest.fixture(scope="session")
def restartable_postgres(pytestconfig: pytest.Config) -> LocalPostgres:
    """A PostgreSQL server of the tests' own, which they may stop and start."""
    return _started(pytestconfig, RESTARTABLE_KEY, _restartable_server)


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_server_url: str) -> Iterator[str]:
    """A database at the newest schema, migrated once per session: copying it (CREATE
    DATABASE ... TEMPLATE, a file copy) is several times faster than migrating each test's."""
    from provisioning.db import make_engine, migrate

    url = create_database(postgres_server_url, prefix="template_")
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()  # a template must have no connections when it is copied
    name = url.rpartition("/")[2]
    yield name
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_postgres_url(postgres_server_url: str, migrated_postgres_template: str) -> Iterator[str]:
    """A fresh database at the newest schema (`migrate()` on it finds nothing to do)."""
    url = create_database(postgres_server_url, template=migrated_postgres_template)
    yield url
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the server, dropped afterwards."""
    url = create_database(postgres_server_url)
    yield url
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
