"""Real servers for the backup tests: versitygw (an S3 implementation, built from source by
tools/s3/build.sh) and MariaDB (Debian's mariadbd), each a throwaway process on a loopback
port with its data in a temporary directory. PostgreSQL comes from
tests/store_software/medusa.py's ``Postgres``.

Why real servers: the backup scripts are shell around mariadb-dump, pg_dump and curl, and the
presigned URLs are only as good as a real S3 server's checking of them. Only the real things
show that a restored database holds what was dumped and that a URL cannot be stretched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from tests.shared import builds
from tests.shared.builds import wait_for_builds
from tests.shared.servers import free_port
from tests.shared.waiting import wait_for
from tests.store_software.medusa import ComponentMissing

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
S3_BUILD_SCRIPT = ROOT / "tools" / "s3" / "build.sh"
SCRIPTS = ROOT / "provisioning" / "backups" / "scripts"


def component(factory: Callable[[], T]) -> T:
    """``factory()``, or skip the test with the reason when a component is not installed
    (tests/conftest.py turns the skip into a failure under CI=true)."""
    try:
        return factory()
    except ComponentMissing as missing:
        pytest.skip(str(missing))


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- versitygw ------------------------------------------------------------------------------


def build_versitygw(log: Path, timeout: float = 900) -> Path:
    """The versitygw binary: built (about 2 minutes cold) or taken from the cache."""
    wait_for_builds(*builds.S3)  # under `make test` it may still be building beside the tests
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    cached = subprocess.run(["bash", str(S3_BUILD_SCRIPT), "--print"], capture_output=True, text=True, check=False)
    if cached.returncode != 0 and go is None:
        raise ComponentMissing("Go is not installed: tools/s3/build.sh needs it to build versitygw (the S3 server)")
    with log.open("w") as out:
        result = subprocess.run(
            ["bash", str(S3_BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=out, text=True, timeout=timeout, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"tools/s3/build.sh failed ({result.returncode}):\n{_tail(log)}")
    return Path(result.stdout.strip().splitlines()[-1]) / "versitygw"


@dataclass
class Versitygw:
    """`versitygw posix ROOT` on a loopback port: each bucket is a directory under ROOT."""

    binary: Path
    process: subprocess.Popen[bytes]
    port: int
    access_key: str
    secret_key: str
    workdir: Path
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    @property
    def version(self) -> str:
        out = subprocess.run([str(self.binary), "--version"], capture_output=True, text=True, check=False).stdout
        return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Version")), "?")

    @classmethod
    def start(cls, binary: Path) -> Versitygw:
        workdir = Path(tempfile.mkdtemp(prefix="backups-s3-"))
        (workdir / "root").mkdir()
        port = free_port()
        access_key = "AK" + secrets.token_hex(9).upper()
        secret_key = secrets.token_urlsafe(30)
        log = workdir / "versitygw.log"
        # The keys go through the environment (ROOT_ACCESS_KEY / ROOT_SECRET_KEY), not argv.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ROOT_ACCESS_KEY": access_key,
            "ROOT_SECRET_KEY": secret_key,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(binary), "--port", f"127.0.0.1:{port}", "--quiet", "posix", str(workdir / "root")],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        server = cls(binary, process, port, access_key, secret_key, workdir)

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"versitygw exited with {process.returncode}:\n{_tail(log)}")
            return _port_open(port)

        try:
            wait_for(up, timeout=30, what=f"versitygw on port {port}")
        except Exception as error:
            server.stop()
            raise RuntimeError(f"versitygw did not come up: {error}\n{_tail(log)}") from error
        return server

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- MariaDB --------------------------------------------------------------------------------


@dataclass
class MariaDB:
    """A throwaway mariadbd: root over the Unix socket (no password), one database `wordpress`
    and its user `wordpress`@`%` with a password and ``GRANT ALL ON wordpress.*`` only, like
    the WordPress user of the official MariaDB image."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    database: str = "wordpress"
    user: str = "wordpress"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    @property
    def socket(self) -> Path:
        return self.workdir / "mysqld.sock"

    @classmethod
    def start(cls) -> MariaDB:
        server_bin = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
        install_db = shutil.which("mariadb-install-db")
        if not server_bin or not install_db or not shutil.which("mariadb") or not shutil.which("mariadb-dump"):
            raise ComponentMissing(
                "MariaDB is not installed (Debian: mariadb-server and mariadb-client; scripts/install-test-deps.sh)"
            )
        workdir = Path(tempfile.mkdtemp(prefix="backups-mariadb-"))
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        install = subprocess.run(
            [
                install_db,
                "--no-defaults",
                f"--datadir={workdir / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                *as_root,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if install.returncode != 0:
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"mariadb-install-db failed:\n{install.stdout[-2000:]}\n{install.stderr[-2000:]}")
        port = free_port()
        log = workdir / "mariadbd.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    server_bin,
                    "--no-defaults",
                    f"--datadir={workdir / 'data'}",
                    f"--socket={workdir / 'mysqld.sock'}",
                    f"--pid-file={workdir / 'mysqld.pid'}",
                    f"--port={port}",
                    "--bind-address=127.0.0.1",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=64M",
                    "--innodb-flush-log-at-trx-commit=0",
                    "--skip-log-bin",
                    f"--log-error={log}",
                    *as_root,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = cls(process, port, workdir)

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {process.returncode}:\n{_tail(log)}")
            return server._client(["-e", "SELECT 1"], check=False).returncode == 0

        try:
            wait_for(up, timeout=60, what=f"mariadbd on port {port}")
            server.root_sql(
                f"CREATE DATABASE `{server.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
                f"CREATE USER '{server.user}'@'%' IDENTIFIED BY '{server.password}';"
                f"GRANT ALL ON `{server.database}`.* TO '{server.user}'@'%';"
            )
        except Exception:
            server.stop()
            raise
        return server

    def _client(
        self, args: list[str], *, database: str = "", stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = ["mariadb", "--no-defaults", f"--socket={self.socket}", "--user=root"]
        command += ["--batch", "--skip-column-names", "--raw", "--default-character-set=utf8mb4", *args]
        if database:
            command.append(database)
        result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"mariadb {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def root_sql(self, statements: str, database: str = "") -> str:
        """Run SQL as root over the socket; the output rows, tab-separated."""
        return self._client([], database=database, stdin=statements).stdout

    def user_sql(self, statements: str) -> str:
        """Run SQL as the `wordpress` user over TCP, as the store does (password in MYSQL_PWD)."""
        command = ["mariadb", "--no-defaults", "--protocol=TCP", "--host=127.0.0.1", f"--port={self.port}"]
        command += [f"--user={self.user}", "--batch", "--skip-column-names", "--default-character-set=utf8mb4"]
        result = subprocess.run(
            [*command, self.database],
            input=statements,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**os.environ, "MYSQL_PWD": self.password},
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb as {self.user} failed: {result.stderr.strip()}")
        return result.stdout

    def reset(self) -> None:
        """An empty `wordpress` database (the user's grant on it stays)."""
        self.root_sql(
            f"DROP DATABASE IF EXISTS `{self.database}`;"
            f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        )

    def rows(self, query: str, database: str | None = None) -> list[list[str]]:
        out = self.root_sql(query, database or self.database)
        return [line.split("\t") for line in out.splitlines()]

    def scalar(self, query: str, database: str | None = None) -> str:
        return self.rows(query, database)[0][0]

    @property
    def version(self) -> str:
        return self.scalar("SELECT VERSION()", "mysql")

    def stop(self) -> None:
        _stop(self.process, timeout=60)
        shutil.rmtree(self.workdir, ignore_errors=True)
