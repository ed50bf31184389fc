"""Run a Medusa store's real software on this machine: the server built from images/medusa/
by tools/medusa/build.sh, a real PostgreSQL and a real Redis, started as plain processes.

Why here and not in a cluster: the Kubernetes test harness has no container runtime for
Medusa's image (no registry, no Docker), but everything the image runs can run here: the
same built server directory, the same bin/store-setup and bin/store-start, the same
environment contract the `medusa` engine gives its pods. What the pod adds (uid 1000, no
home, a read-only root filesystem, an emptyDir /tmp) is reproduced with setpriv and a
private mount namespace (see ``Sandbox``).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from provisioning.engines.medusa_manifests import DATABASE_URL_OPTIONS
from tests.shared.servers import free_port
from tests.shared.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "tools" / "medusa" / "build.sh"
PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
# The uid of the pods is 1000; here the uid must have no writable home and own nothing of
# the app tree. `nobody` is that on Debian (home /nonexistent).
UNPRIVILEGED_USER = "nobody"
# A loopback address that Medusa does not treat as localhost (it turns TLS on for any other
# host), so the tests connect the way a store's pods do: see medusa_manifests.database_env.
DATABASE_HOST = "127.0.0.2"


class ComponentMissing(Exception):
    """A component the test needs is not installed; the test skips with this reason."""


# -- the built server --------------------------------------------------------------------


@dataclass(frozen=True)
class MedusaBuild:
    """What tools/medusa/build.sh produced: the image's /app and the Node 22 that runs it."""

    server_dir: Path
    node_bin: Path

    @property
    def medusa_version(self) -> str:
        package = self.server_dir / "node_modules" / "@medusajs" / "medusa" / "package.json"
        return str(json.loads(package.read_text())["version"])

    @property
    def node_version(self) -> str:
        return subprocess.run(
            [str(self.node_bin / "node"), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()


def build_medusa(log: Path, timeout: float = 1500) -> MedusaBuild:
    """Build (or reuse from the cache) the server; the build's progress goes to ``log``."""
    if shutil.which("npm") is None:
        raise ComponentMissing("npm is not installed (Debian: apt-get install npm); it builds the Medusa server")
    with log.open("w") as out:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=out, text=True, timeout=timeout, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"tools/medusa/build.sh failed ({result.returncode}):\n{log.read_text()[-4000:]}")
    server = Path(result.stdout.strip().splitlines()[-1])
    return MedusaBuild(server_dir=server, node_bin=(server.parent / "node" / "bin").resolve())


def copy_for_user(build: MedusaBuild, dest: Path, owner: str) -> MedusaBuild:
    """A copy of the server that ``owner`` can run but not change, laid out like the image.

    Files are hard links to the cache (cheap, and they stay root-owned 0644/0755, so the
    unprivileged user cannot write them); directories are new and root-owned; `static` is
    owned by the user, as the image's uploads volume is. The cache itself sits under
    /root, which other users cannot enter, hence a copy rather than the cache path.
    """
    dest.mkdir(parents=True)
    dest.chmod(0o755)
    app = dest / "app"
    node_bin = dest / "node" / "bin"
    node_bin.mkdir(parents=True)
    try:
        subprocess.run(["cp", "-al", str(build.server_dir), str(app)], check=True, capture_output=True)
    except subprocess.CalledProcessError:  # another filesystem: a real copy
        shutil.copytree(build.server_dir, app, symlinks=True)
    shutil.copy2(build.node_bin / "node", node_bin / "node")
    for path in (dest, app, dest / "node", node_bin):
        path.chmod(0o755)
    user = pwd.getpwnam(owner)
    os.chown(app / "static", user.pw_uid, user.pw_gid)
    return MedusaBuild(server_dir=app, node_bin=node_bin)


# -- PostgreSQL ---------------------------------------------------------------------------


def _server_user_prefix() -> list[str]:
    """PostgreSQL refuses to run as root; as root, run it as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ComponentMissing("running as root but there is no `postgres` user to run PostgreSQL as") from exc
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster: superuser over the Unix socket (trust), every TCP
    login with a password (scram-sha-256), so the store's DATABASE_URL password is checked
    for real."""

    bin_dir: Path
    data: Path
    port: int

    @classmethod
    def start(cls) -> Postgres:
        if not PG_BIN_CANDIDATES:
            raise ComponentMissing("PostgreSQL is not installed (scripts/install-test-deps.sh installs it)")
        prefix = _server_user_prefix()
        bin_dir = PG_BIN_CANDIDATES[0]
        data = Path(tempfile.mkdtemp(prefix="store-software-pg-"))
        if prefix:
            shutil.chown(data, user="postgres")
        port = free_port()
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data / "db"),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            check=True,
            capture_output=True,
        )
        # Stores reach the server at DATABASE_HOST, an address Medusa does not take for
        # localhost, so its TLS default applies as in a pod and the engine's URL options
        # (sslmode=disable) are what make the connection work.
        with (data / "db" / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {DATABASE_HOST}/32 scram-sha-256\n")
        options = (
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1,{DATABASE_HOST} -c fsync=off -c max_connections=200"
        )
        pg_ctl = [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w"]
        subprocess.run(
            [*pg_ctl, "-o", options, "start"],
            check=True,
            capture_output=True,
        )
        return cls(bin_dir=bin_dir, data=data, port=port)

    def stop(self) -> None:
        subprocess.run(
            [*_server_user_prefix(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data / "db"), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.data, ignore_errors=True)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection over the Unix socket."""
        return psycopg.connect(host=str(self.data), port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def create_database(self, name: str) -> str:
        """A database owned by a new login role with a random password; returns its URL."""
        password = secrets.token_urlsafe(18)
        with self.admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
            )
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(name)))
        return f"postgres://{name}:{password}@{DATABASE_HOST}:{self.port}/{name}?{DATABASE_URL_OPTIONS}"

    def scalar(self, dbname: str, query: str, params: Sequence[object] = ()) -> Any:
        with self.admin(dbname) as conn:
            row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


# -- Redis ---------------------------------------------------------------------------------


@dataclass
class Redis:
    """redis-server on a loopback port with a password, no persistence."""

    process: subprocess.Popen[bytes]
    port: int
    password: str
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}"

    @classmethod
    def start(cls) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ComponentMissing("redis-server is not installed (scripts/install-test-deps.sh installs it)")
        workdir = Path(tempfile.mkdtemp(prefix="store-software-redis-"))
        port = free_port()
        password = secrets.token_hex(16)
        config = workdir / "redis.conf"
        # The password goes in a file, not on the command line where `ps` shows it.
        config.write_text(
            f'port {port}\nbind 127.0.0.1\nrequirepass {password}\nsave ""\nappendonly no\ndir {workdir}\n'
            f"logfile {workdir / 'redis.log'}\n"
        )
        process = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        redis = cls(process=process, port=port, password=password, workdir=workdir)
        wait_for(redis.ping, timeout=20, what=f"redis-server on port {port}")
        return redis

    @property
    def version(self) -> str:
        binary = shutil.which("redis-server") or "redis-server"
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
        return next((part.split("=", 1)[1] for part in out.split() if part.startswith("v=")), out.strip())

    def ping(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                reply = b""
                while b"PONG" not in reply and len(reply) < 200:
                    chunk = sock.recv(100)
                    if not chunk:
                        break
                    reply += chunk
                return b"+PONG" in reply
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- the environment contract ----------------------------------------------------------------


def store_environment(
    build: MedusaBuild,
    *,
    database_url: str,
    redis_url: str | None,
    port: int,
    config_home: Path | str,
    **overrides: str,
) -> dict[str, str]:
    """The variables the `medusa` engine gives the store's pods (README in images/medusa),
    with fresh secrets, plus what this machine needs: PATH with Node 22 first and HOST so
    the server listens on loopback only."""
    env = {
        "PATH": f"{build.node_bin}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOST": "127.0.0.1",
        "HOME": str(config_home),
        "XDG_CONFIG_HOME": str(config_home),
        "TMPDIR": str(config_home),
        "DATABASE_URL": database_url,
        "MEDUSA_WORKER_MODE": "shared",
        "DISABLE_MEDUSA_ADMIN": "false",
        "JWT_SECRET": secrets.token_hex(32),
        "COOKIE_SECRET": secrets.token_hex(32),
        "STORE_CORS": "http://localhost:8000",
        "ADMIN_CORS": f"http://127.0.0.1:{port}",
        "AUTH_CORS": f"http://127.0.0.1:{port}",
        "MEDUSA_DISABLE_TELEMETRY": "true",
        "NODE_ENV": "production",
        "PORT": str(port),
        "MEDUSA_ADMIN_EMAIL": "admin@store.example",
        "MEDUSA_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        "MEDUSA_PUBLISHABLE_KEY": "pk_" + secrets.token_hex(32),
        "MEDUSA_STORE_NAME": "Test store",
        "MEDUSA_INSECURE_COOKIES": "true",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(overrides)
    return env


SECRET_VARIABLES = ("JWT_SECRET", "COOKIE_SECRET", "MEDUSA_ADMIN_PASSWORD", "MEDUSA_PUBLISHABLE_KEY")


def secrets_in(text: str, env: Mapping[str, str]) -> list[str]:
    """Names of the secrets of ``env`` that appear in ``text`` (the database and Redis
    passwords included)."""
    found = [name for name in SECRET_VARIABLES if env.get(name) and env[name] in text]
    for name in ("DATABASE_URL", "REDIS_URL"):
        url = env.get(name, "")
        password = url.split("://", 1)[-1].split("@", 1)[0].partition(":")[2] if "@" in url else ""
        if password and password in text:
            found.append(f"{name} password")
    return found


# -- running the store's scripts -----------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    """How a store process is run: as whom, and with which filesystem.

    ``user``: run as this unprivileged user (setpriv) instead of the test's own.
    ``read_only_app``: in a private mount namespace, the app directory is a read-only
    bind mount (EROFS for every process, root included).
    ``read_only_root``: in a private mount namespace, the whole root filesystem is
    read-only, /tmp is a fresh tmpfs and only ``static_dir`` is mounted writable on the
    app's `static`, like a pod with readOnlyRootFilesystem, an emptyDir on /tmp and an
    uploads volume.
    The mount namespace is private to the command: nothing changes for the rest of the
    machine. All of these need root.
    """

    user: str | None = None
    read_only_app: bool = False
    read_only_root: bool = False
    static_dir: Path | None = None

    def wrap(self, command: Sequence[str]) -> list[str]:
        inner = list(command)
        if self.user:
            info = pwd.getpwnam(self.user)
            inner = ["setpriv", f"--reuid={info.pw_uid}", f"--regid={info.pw_gid}", "--clear-groups", "--", *inner]
        mounts = []
        if self.read_only_app:
            mounts.append('mount --bind "$APP_DIR" "$APP_DIR" && mount -o remount,bind,ro "$APP_DIR"')
        if self.read_only_root:
            # The uploads bind is made first: a bind mount made after the remount would be
            # read-only too. /tmp becomes a fresh tmpfs, like the pod's emptyDir.
            if self.static_dir:
                mounts.append(f'mount --bind "{self.static_dir}" "$APP_DIR/static"')
            mounts.append("mount -o remount,bind,ro / && mount -t tmpfs -o mode=1777 tmpfs /tmp")
        if not mounts:
            return inner
        script = "set -e; mount --make-rprivate /; " + " && ".join(mounts) + ' && exec "$@"'
        return ["unshare", "--mount", "--", "sh", "-c", script, "sandbox", *inner]

    def check_available(self) -> None:
        """Raise ComponentMissing when this machine cannot run the sandbox."""
        namespaced = self.read_only_app or self.read_only_root
        if (self.user or namespaced) and os.geteuid() != 0:
            raise ComponentMissing("running the store as another uid or in a mount namespace needs root")
        if self.user and shutil.which("setpriv") is None:
            raise ComponentMissing("setpriv (util-linux) is not installed")
        if namespaced:
            if shutil.which("unshare") is None:
                raise ComponentMissing("unshare (util-linux) is not installed")
            probe = subprocess.run(
                ["unshare", "--mount", "--", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True, check=False
            )
            if probe.returncode != 0:
                raise ComponentMissing(f"mount namespaces are not allowed here: {probe.stderr.decode().strip()}")


@dataclass
class SetupRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_setup(
    build: MedusaBuild, env: Mapping[str, str], sandbox: Sandbox = Sandbox(), timeout: float = 600
) -> SetupRun:
    """bin/store-setup, as the setup Job runs it."""
    command = sandbox.wrap([str(build.server_dir / "bin" / "store-setup")])
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd="/",
        env={**env, "APP_DIR": str(build.server_dir)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return SetupRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


@dataclass
class StoreServer:
    """bin/store-start as a background process, stopped (whole process group) on exit."""

    build: MedusaBuild
    env: Mapping[str, str]
    log: Path
    sandbox: Sandbox = field(default_factory=Sandbox)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self, timeout: float = 180) -> StoreServer:
        command = self.sandbox.wrap([str(self.build.server_dir / "bin" / "store-start")])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd="/",
                env={**self.env, "APP_DIR": str(self.build.server_dir)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._healthy, timeout=timeout, what=f"GET {self.url}/health to answer 200")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"store-start exited with {self.process.returncode}:\n{self.log.read_text(errors='replace')[-4000:]}"
            )
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> StoreServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- HTTP ----------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any
    headers: Mapping[str, str]


def http(method: str, url: str, *, body: object | None = None, headers: Mapping[str, str] | None = None) -> Response:
    """One JSON request; HTTP errors are returned, not raised, so tests can assert on them."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            status, response_headers = response.status, dict(response.headers.items())
    except urllib.error.HTTPError as error:
        raw = error.read()
        status, response_headers = error.code, dict(error.headers.items())
    try:
        parsed: Any = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        parsed = raw.decode(errors="replace")
    return Response(status=status, body=parsed, headers=response_headers)
