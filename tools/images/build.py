"""Build container images without a registry or a Docker engine, and import them.

Why: the test node's containerd can never pull (no registry is reachable), so every image
a real pod runs is made here: a root filesystem from Debian packages (``mmdebstrap``), plus
a small layer of files from ``tools/images/<image>/``, written as a docker-archive
(``manifest.json``, a config JSON, one uncompressed tar per layer) that
``ctr -n k8s.io images import`` reads. Each piece is cached under
``~/.cache/store-platform/images`` keyed by everything that goes into it, so a second build
costs a hash.

Usage::

    python -m tools.images.build postgres-standin      # prints the archive path
    python -m tools.images.build --list
    python -m tools.images.build pause --pause-binary /path/to/pause

Stand-ins for third-party images carry ``-standin`` in their name and the label
``store-platform.test/standin-for``: they honour the documented environment contract of the
official image, they are not that image.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILDER_REV = "1"  # bump when the archive layout written here changes
EPOCH = 1_700_000_000  # fixed mtime for the layers written here: same inputs, same digest


def cache_root() -> Path:
    env = os.environ.get("STORE_PLATFORM_IMAGE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "store-platform" / "images"


@dataclass(frozen=True)
class FileEntry:
    """A file of the top layer: ``src`` relative to tools/images/, or inline ``data``."""

    path: str
    src: str = ""
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class DirEntry:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class ImageSpec:
    """What goes into an image. ``packages`` empty means no Debian rootfs (e.g. pause).

    ``layers``: ``"module:function"`` names of cached layers too large for ``files``
    (``function(log=...)`` returns the path of a layer tar), between the rootfs and the files.
    """

    name: str
    ref: str
    suite: str = "bookworm"
    packages: tuple[str, ...] = ()
    essential_hooks: tuple[str, ...] = ()
    customize_hooks: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    dirs: tuple[DirEntry, ...] = ()
    files: tuple[FileEntry, ...] = ()
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    exposed_ports: tuple[str, ...] = ()
    stop_signal: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, object]:
        cfg: dict[str, object] = {"Env": list(self.env)}
        if self.entrypoint:
            cfg["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            cfg["Cmd"] = list(self.cmd)
        if self.user:
            cfg["User"] = self.user
        if self.workdir:
            cfg["WorkingDir"] = self.workdir
        if self.exposed_ports:
            cfg["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.stop_signal:
            cfg["StopSignal"] = self.stop_signal
        if self.labels:
            cfg["Labels"] = dict(self.labels)
        return cfg


# Debian trims that keep a rootfs small; none of them affects what a program does.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)

PG_MAJOR = "15"
# The official postgres image creates the postgres user as 999:999 before installing the
# server; the Debian package then reuses it. The main cluster Debian creates is removed.
_PG_USER_HOOK = (
    'echo "postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash" >> "$1/etc/passwd"; '
    'echo "postgres:x:999:" >> "$1/etc/group"; '
    'if [ -f "$1/etc/shadow" ]; then echo "postgres:*:19000:0:99999:7:::" >> "$1/etc/shadow"; fi; '
    'if [ -f "$1/etc/gshadow" ]; then echo "postgres:!::" >> "$1/etc/gshadow"; fi'
)

# The official redis image creates its user as 999:999 before installing the server, too.
_REDIS_USER_HOOK = (
    'echo "redis:x:999:999::/data:/usr/sbin/nologin" >> "$1/etc/passwd"; '
    'echo "redis:x:999:" >> "$1/etc/group"; '
    'if [ -f "$1/etc/shadow" ]; then echo "redis:*:19000:0:99999:7:::" >> "$1/etc/shadow"; fi; '
    'if [ -f "$1/etc/gshadow" ]; then echo "redis:!::" >> "$1/etc/gshadow"; fi'
)
# The official node image's user `node` is 1000:1000; images/medusa/Dockerfile runs as 1000:1000.
_NODE_USER_HOOK = (
    'echo "node:x:1000:1000::/home/node:/bin/bash" >> "$1/etc/passwd"; '
    'echo "node:x:1000:" >> "$1/etc/group"; '
    'if [ -f "$1/etc/shadow" ]; then echo "node:*:19000:0:99999:7:::" >> "$1/etc/shadow"; fi; '
    'if [ -f "$1/etc/gshadow" ]; then echo "node:!::" >> "$1/etc/gshadow"; fi'
)
# The Dockerfile's user `app` (uid/gid 10001, home /tmp, no shell), the chart's runAsUser/fsGroup.
_APP_USER_HOOK = (
    'echo "app:x:10001:10001::/tmp:/usr/sbin/nologin" >> "$1/etc/passwd"; '
    'echo "app:x:10001:" >> "$1/etc/group"; '
    'if [ -f "$1/etc/shadow" ]; then echo "app:*:19000:0:99999:7:::" >> "$1/etc/shadow"; fi; '
    'if [ -f "$1/etc/gshadow" ]; then echo "app:!::" >> "$1/etc/gshadow"; fi'
)
MEDUSA_VERSION = "2.21.2"
MEDUSA_NODE_VERSION = "22.23.3"  # tools/medusa/build.sh's Node, and the Dockerfile's FROM

IMAGES: dict[str, ImageSpec] = {
    "postgres-standin": ImageSpec(
        name="postgres-standin",
        ref=f"store-platform-test/postgres-standin:{PG_MAJOR}",
        packages=(f"postgresql-{PG_MAJOR}", "ca-certificates"),
        essential_hooks=(_PG_USER_HOOK,),
        customize_hooks=(
            f'rm -rf "$1/var/lib/postgresql/{PG_MAJOR}" "$1/etc/postgresql/{PG_MAJOR}"',
            'rm -f "$1/etc/ssl/private/ssl-cert-snakeoil.key" "$1/etc/ssl/certs/ssl-cert-snakeoil.pem"',
        ),
        dirs=(
            DirEntry("docker-entrypoint-initdb.d", 0o755),
            DirEntry("var/run/postgresql", 0o3777, 999, 999),
            DirEntry("var/lib/postgresql", 0o755, 999, 999),
            DirEntry("var/lib/postgresql/data", 0o1777, 999, 999),
        ),
        files=(
            FileEntry("usr/local/bin/docker-entrypoint.sh", src="postgres-standin/docker-entrypoint.sh", mode=0o755),
        ),
        env=(
            f"PATH=/usr/lib/postgresql/{PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"PG_MAJOR={PG_MAJOR}",
            "PGDATA=/var/lib/postgresql/data",
            "LANG=C.UTF-8",
        ),
        entrypoint=("docker-entrypoint.sh",),
        cmd=("postgres",),
        user="999:999",
        exposed_ports=("5432/tcp",),
        stop_signal="SIGINT",
        labels={
            "store-platform.test/standin-for": f"docker.io/library/postgres:{PG_MAJOR}",
            "store-platform.test/contract": "POSTGRES_PASSWORD POSTGRES_USER POSTGRES_DB POSTGRES_INITDB_ARGS "
            "POSTGRES_HOST_AUTH_METHOD PGDATA /docker-entrypoint-initdb.d pg_isready uid 999",
        },
    ),
    "redis-standin": ImageSpec(
        name="redis-standin",
        ref="store-platform-test/redis-standin:7",
        packages=("redis-server",),
        essential_hooks=(_REDIS_USER_HOOK,),
        # Debian's service setup (config, log and state directories) is not the official image's.
        customize_hooks=('rm -rf "$1/etc/redis" "$1/var/log/redis" "$1/var/lib/redis"',),
        dirs=(DirEntry("data", 0o755, 999, 999),),
        files=(FileEntry("usr/local/bin/docker-entrypoint.sh", src="redis-standin/docker-entrypoint.sh", mode=0o755),),
        entrypoint=("docker-entrypoint.sh",),
        cmd=("redis-server",),
        user="999:999",
        workdir="/data",
        exposed_ports=("6379/tcp",),
        labels={
            "store-platform.test/standin-for": "docker.io/library/redis:7",
            "store-platform.test/contract": "args starting with - run redis-server; protected-mode off without a "
            "config file; umask 0077; WORKDIR /data; redis-cli; uid 999",
        },
    ),
    # images/medusa/Dockerfile's contents without Docker: the server and Node come from
    # tools/medusa/build.sh's cache (tools/images/medusa_store.py), bin/ from images/medusa/bin.
    "medusa-store": ImageSpec(
        name="medusa-store",
        ref=f"store-platform/medusa-store:{MEDUSA_VERSION}",
        packages=("mawk",),
        essential_hooks=(_NODE_USER_HOOK,),
        layers=("tools.images.medusa_store:app_layer",),
        dirs=(
            DirEntry("home/node", 0o755, 1000, 1000),
            DirEntry("app", 0o755),
            DirEntry("app/bin", 0o755),
            DirEntry("app/static", 0o755, 1000, 1000),
        ),
        files=(
            FileEntry("usr/local/bin/docker-entrypoint.sh", src="medusa-store/docker-entrypoint.sh", mode=0o755),
            FileEntry("app/bin/store-start", src="../../images/medusa/bin/store-start", mode=0o755),
            FileEntry("app/bin/store-setup", src="../../images/medusa/bin/store-setup", mode=0o755),
        ),
        env=(
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            f"NODE_VERSION={MEDUSA_NODE_VERSION}",
            "NODE_ENV=production",
            "PORT=9000",
            "HOME=/tmp",
            "XDG_CONFIG_HOME=/tmp",
            "MEDUSA_DISABLE_TELEMETRY=true",
            "MEDUSA_WORKER_MODE=shared",
            "DISABLE_MEDUSA_ADMIN=false",
        ),
        entrypoint=("docker-entrypoint.sh",),
        cmd=("/app/bin/store-start",),
        user="1000:1000",
        workdir="/app",
        exposed_ports=("9000/tcp",),
        labels={"store-platform.test/built-from": "images/medusa/Dockerfile (tools/medusa/build.sh, tools/images)"},
    ),
    # The platform image (portal + worker): the repo's Dockerfile built here without Docker
    # (tools/images/platform_app.py): Debian's python3.11 in place of python:3.11-slim.
    "platform": ImageSpec(
        name="platform",
        ref="store-platform/store-platform:dev",
        packages=("python3", "python-is-python3", "ca-certificates"),
        essential_hooks=(_APP_USER_HOOK,),
        layers=("tools.images.platform_app:deps_layer", "tools.images.platform_app:app_layer"),
        dirs=(DirEntry("data", 0o755, 10001, 10001),),
        env=(
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
            "PYTHONDONTWRITEBYTECODE=1",
            "PYTHONUNBUFFERED=1",
            "PIP_DISABLE_PIP_VERSION_CHECK=1",
            "PIP_ROOT_USER_ACTION=ignore",
            "HOME=/tmp",
            "STREAMLIT_SERVER_HEADLESS=true",
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS=false",
            "DATABASE_URL=sqlite:////data/store_platform.db",
            "LOCAL_SECRETS_FILE=/data/secrets.env",
        ),
        cmd=("streamlit", "run", "asgi.py", "--server.port=8501", "--server.address=0.0.0.0"),
        user="10001:10001",
        workdir="/app",
        exposed_ports=("8501/tcp",),
        labels={
            "org.opencontainers.image.title": "store-platform",
            "org.opencontainers.image.description": "Self-service portal that provisions WooCommerce stores "
            "into Kubernetes namespaces",
            "org.opencontainers.image.source": "https://github.com/store-platform/store-platform",
            "store-platform.test/built-from": "Dockerfile, built by tools/images (platform_app.py) in place of "
            "`docker build`: Debian bookworm python3.11 instead of python:3.11.14-slim-bookworm",
        },
    ),
    # Kubernetes' pause (tools/node/build.sh compiles it); the sandbox image of the real node.
    "pause": ImageSpec(
        name="pause",
        ref="store-platform-test/pause:3.10.2",
        files=(FileEntry("pause", src="@pause-binary", mode=0o755),),
        env=(),
        entrypoint=("/pause",),
        user="65535:65535",
        labels={"store-platform.test/built-from": "k8s.io/kubernetes build/pause/linux/pause.c"},
    ),
}


# -- hashing -------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _file_bytes(entry: FileEntry, pause_binary: Path | None) -> bytes:
    if entry.src == "@pause-binary":
        if pause_binary is None:
            raise SystemExit("the pause image needs --pause-binary (tools/node/build.sh builds it)")
        return pause_binary.read_bytes()
    if entry.src:
        return (HERE / entry.src).read_bytes()
    return entry.data


def rootfs_key(spec: ImageSpec) -> str:
    doc = json.dumps(
        {
            "rev": BUILDER_REV,
            "suite": spec.suite,
            "packages": spec.packages,
            "essential": spec.essential_hooks,
            "customize": spec.customize_hooks,
            "dpkg": DPKG_EXCLUDES,
        },
        sort_keys=True,
    )
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


# -- layers --------------------------------------------------------------------------------


def build_rootfs(spec: ImageSpec, *, log: bool = True) -> Path:
    """The Debian root filesystem as a tar (one layer), cached by its inputs."""
    dest = cache_root() / "rootfs" / f"{spec.suite}-{rootfs_key(spec)}.tar"
    if dest.exists():
        return dest
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("mmdebstrap not found: apt-get install mmdebstrap (scripts/install-test-deps.sh)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    argv = [
        "mmdebstrap",
        "--variant=apt",
        "--mode=root" if os.geteuid() == 0 else "--mode=auto",
        '--aptopt=APT::Install-Recommends "false"',
        "--skip=output/dev",
        "--format=tar",
    ]
    argv += [f"--dpkgopt={opt}" for opt in DPKG_EXCLUDES]
    if spec.packages:
        argv.append("--include=" + ",".join(spec.packages))
    argv += [f"--essential-hook={h}" for h in spec.essential_hooks]
    argv += [f"--customize-hook={h}" for h in spec.customize_hooks]
    argv += [spec.suite, str(tmp)]
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise SystemExit(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    tmp.rename(dest)
    if log:
        size = dest.stat().st_size / 1e6
        print(f"[images] rootfs {dest.name}: {size:.0f} MB in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    return dest


def _parent_dirs(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def top_layer(spec: ImageSpec, pause_binary: Path | None) -> bytes:
    """The image's own files and directories as an uncompressed, reproducible tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen: set[str] = set()

        def add_dir(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
            if path in seen:
                return
            seen.add(path)
            info = tarfile.TarInfo(path)
            info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, mode, uid, gid, EPOCH
            tar.addfile(info)

        explicit = {d.path.strip("/"): d for d in spec.dirs}
        for d in spec.dirs:
            for parent in _parent_dirs(d.path):
                pd = explicit.get(parent)
                add_dir(parent, *(pd.mode, pd.uid, pd.gid) if pd else ())
            add_dir(d.path.strip("/"), d.mode, d.uid, d.gid)
        for f in spec.files:
            for parent in _parent_dirs(f.path):
                pd = explicit.get(parent)
                add_dir(parent, *(pd.mode, pd.uid, pd.gid) if pd else ())
            data = _file_bytes(f, pause_binary)
            info = tarfile.TarInfo(f.path.strip("/"))
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), f.mode, f.uid, f.gid, EPOCH
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def rootfs_cached(name: str) -> bool:
    """True if image ``name`` needs no mmdebstrap run (its rootfs is cached or it has none)."""
    spec = IMAGES[name]
    return not spec.packages or (cache_root() / "rootfs" / f"{spec.suite}-{rootfs_key(spec)}.tar").exists()


# -- archive -------------------------------------------------------------------------------


def build_image(name: str, *, pause_binary: Path | None = None, log: bool = True) -> Path:
    """Write (or reuse) the docker-archive for image ``name``; returns its path."""
    spec = IMAGES[name]
    t0 = time.monotonic()
    layers: list[tuple[str, Path | bytes]] = []
    if spec.packages:
        rootfs = build_rootfs(spec, log=log)
        digest_file = rootfs.with_suffix(".sha256")
        if not digest_file.exists():
            digest_file.write_text(_sha256_file(rootfs))
        layers.append((digest_file.read_text().strip(), rootfs))
    for builder in spec.layers:
        module, _, function = builder.partition(":")
        layer = getattr(importlib.import_module(module), function)(log=log)
        digest_file = layer.with_suffix(".sha256")
        if not digest_file.exists():
            digest_file.write_text(_sha256_file(layer))
        layers.append((digest_file.read_text().strip(), layer))
    top = top_layer(spec, pause_binary)
    layers.append((hashlib.sha256(top).hexdigest(), top))

    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": spec.config(),
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d, _ in layers]},
        "history": [
            {"created_by": f"store-platform tools/images ({what})"}
            for what in (*(("rootfs",) if spec.packages else ()), *spec.layers, "files")
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    dest = cache_root() / "archives" / f"{spec.name}-{config_digest[:16]}.tar"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    manifest = [
        {
            "Config": f"{config_digest}.json",
            "RepoTags": [spec.ref],
            "Layers": [f"{d}/layer.tar" for d, _ in layers],
        }
    ]
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{spec.name}-", suffix=".tar")
    os.close(fd)
    try:
        with tarfile.open(tmp_name, mode="w", format=tarfile.PAX_FORMAT) as tar:

            def add_bytes(arcname: str, data: bytes) -> None:
                info = tarfile.TarInfo(arcname)
                info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
                tar.addfile(info, io.BytesIO(data))

            for digest, content in layers:
                if isinstance(content, Path):
                    info = tar.gettarinfo(str(content), arcname=f"{digest}/layer.tar")
                    info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "", ""
                    with content.open("rb") as fh:
                        tar.addfile(info, fh)
                else:
                    add_bytes(f"{digest}/layer.tar", content)
            add_bytes(f"{config_digest}.json", config_bytes)
            add_bytes("manifest.json", json.dumps(manifest).encode())
            add_bytes("repositories", json.dumps({spec.ref.rsplit(":", 1)[0]: {}}).encode())
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    prune_archives(spec.name, keep=dest)
    if log:
        print(f"[images] {spec.ref}: {dest} in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return dest


def prune_archives(name: str, *, keep: Path, newest: int = 2) -> list[Path]:
    """Delete all but the ``newest`` archives of image ``name`` (``keep`` always stays).

    Why: an archive is keyed by everything in it, so each change to the platform's code or
    the store scripts writes a new one of up to 900 MB; without this the cache grows by that
    much per change. Two are kept so that two checkouts in turn do not rebuild each time.
    """
    pattern = re.compile(rf"^{re.escape(name)}-[0-9a-f]{{16}}\.tar$")
    archives = sorted(
        (p for p in keep.parent.iterdir() if pattern.match(p.name) and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = archives[max(0, newest - 1) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def import_image(archive: Path, ctr: Path, address: str, *, namespace: str = "k8s.io") -> None:
    """``ctr images import`` into the node's containerd (unpacked for the CRI's snapshotter)."""
    proc = subprocess.run(
        [str(ctr), "--address", address, "-n", namespace, "images", "import", str(archive)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ctr images import {archive} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", help="image name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the images this builder knows")
    parser.add_argument("--pause-binary", type=Path, help="the pause binary (for the pause image)")
    args = parser.parse_args(argv)
    if args.list or not args.image:
        for spec in IMAGES.values():
            print(f"{spec.name}\t{spec.ref}")
        return 0
    print(build_image(args.image, pause_binary=args.pause_binary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
