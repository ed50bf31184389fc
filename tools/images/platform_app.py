"""The platform image's layers: the Python dependencies and the application in /app.

Why a module of its own: the repo's ``Dockerfile`` (``python:3.11.14-slim-bookworm``,
``pip install -r requirements.txt``, ``COPY`` of the code, ``python -m compileall``) needs
a Docker engine and a registry, and neither exists here. ``build.py``'s image ``platform``
makes the same image without them, **in place of the Dockerfile build**:

- the base is Debian bookworm's ``python3`` (3.11) instead of the python:3.11 image;
  ``/usr/local/lib/python3.11/dist-packages`` is on Debian Python's ``sys.path``;
- ``deps_layer()``: requirements.txt installed by the host's pip into that directory
  (``pip install --target`` with ``--only-binary=:all:`` and the image's interpreter and
  platform, ``cp311`` / ``manylinux_2_17`` to ``manylinux_2_36``: bookworm's glibc), the console scripts
  (``streamlit``, ``alembic``, ...) moved to ``/usr/local/bin`` with ``#!/usr/bin/python3``;
  cached under ``~/.cache/store-platform/images/layers/`` keyed by the sha256 of
  requirements.txt, the pip arguments and ``LAYER_REV``;
- ``app_layer()``: ``/app`` with what the Dockerfile copies (``APP_PATHS``, the same set
  ``.dockerignore`` lets through), root-owned and read-only for uid 10001; keyed by the
  sha256 of those files (a code change rebuilds only this small layer).

Both layers carry bytecode compiled by the host's Python 3.11 (same magic number as any
3.11.x) with ``unchecked-hash`` pycs: valid whatever the files' mtimes in the layer (fixed
here, so the same inputs give the same layer) and never rewritten at run time (the root
filesystem is read-only and ``PYTHONDONTWRITEBYTECODE=1``), as ``compileall`` in the
Dockerfile intends.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tools.images.build import EPOCH, cache_root

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO_ROOT / "requirements.txt"
LAYER_REV = "2"  # bump when what deps_layer()/app_layer() write changes
SITE = "usr/local/lib/python3.11/dist-packages"
# The Dockerfile's COPY lines (and requirements.txt, copied to /app before `pip install`).
APP_PATHS = (
    "requirements.txt",
    ".streamlit",
    "provisioning",
    "portal",
    "pages",
    "app.py",
    "asgi.py",
    "docker/healthcheck.py",
)
PIP_ARGS = (
    "--only-binary=:all:",
    "--implementation=cp",
    "--python-version=3.11",
    "--abi=cp311",
    # Every manylinux tag up to bookworm's glibc 2.36 (pip does not expand a custom one).
    "--platform=manylinux2014_x86_64",
    *(f"--platform=manylinux_2_{minor}_x86_64" for minor in range(17, 37)),
    "--no-compile",
    "--disable-pip-version-check",
)


def _check_python() -> None:
    if sys.version_info[:2] != (3, 11):
        raise SystemExit(f"the platform image's bytecode needs Python 3.11 to build it (this is {sys.version})")


def _tar_tree(tar: tarfile.TarFile, root: Path, arc_root: str) -> None:
    """Add ``root`` as ``arc_root`` (and everything below), root-owned, modes normalised."""
    for parent in _parents(arc_root):
        info = tarfile.TarInfo(parent)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
        tar.addfile(info)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        base = arc_root if rel == Path(".") else f"{arc_root}/{rel.as_posix()}"
        if rel == Path("."):
            info = tarfile.TarInfo(base)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for name in sorted(dirnames) + sorted(filenames):
            path = Path(dirpath) / name
            st = path.lstat()
            info = tarfile.TarInfo(f"{base}/{name}")
            info.mtime, info.uid, info.gid = EPOCH, 0, 0
            if stat.S_ISDIR(st.st_mode):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(path), 0o777
                tar.addfile(info)
            else:
                info.size = st.st_size
                info.mode = 0o755 if st.st_mode & 0o111 else 0o644
                with path.open("rb") as fh:
                    tar.addfile(info, fh)


def _parents(arc: str) -> list[str]:
    parts = arc.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _compile(tree: Path, shown_as: str) -> None:
    """``compileall`` as ``shown_as`` with unchecked-hash pycs, in a child with a fixed hash
    seed: frozenset constants are marshalled in hash order, so the pycs (and the layer) are
    the same bytes for the same inputs."""
    argv = [
        sys.executable, "-m", "compileall", "-q", "-j0", "--invalidation-mode", "unchecked-hash",
        "-s", str(tree), "-p", shown_as, str(tree),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"compileall of {shown_as} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def _write_layer(dest: Path, stage: Path, arc_roots: dict[str, str]) -> None:
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    try:
        with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for sub, arc in arc_roots.items():
                _tar_tree(tar, stage / sub, arc)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def deps_key() -> str:
    h = hashlib.sha256()
    h.update(f"rev={LAYER_REV}\n".encode())
    h.update("\n".join(PIP_ARGS).encode())
    h.update(REQUIREMENTS.read_bytes())
    return h.hexdigest()[:16]


def deps_cached() -> bool:
    """True if the dependency layer needs no pip run (the slow part of the platform image)."""
    return (cache_root() / "layers" / f"platform-deps-{deps_key()}.tar").exists()


def deps_layer(*, log: bool = True) -> Path:
    """requirements.txt in ``/usr/local/lib/python3.11/dist-packages``, scripts in /usr/local/bin."""
    dest = cache_root() / "layers" / f"platform-deps-{deps_key()}.tar"
    if dest.exists():
        return dest
    _check_python()
    dest.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="platform-deps-") as tmp:
        stage = Path(tmp)
        site, bin_dir = stage / "site", stage / "bin"
        argv = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(site), *PIP_ARGS]
        proc = subprocess.run([*argv, "-r", str(REQUIREMENTS)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"pip install --target failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        # --target puts console scripts in <target>/bin with the host interpreter's shebang.
        bin_dir.mkdir()
        if (site / "bin").is_dir():
            for script in sorted((site / "bin").iterdir()):
                data = script.read_bytes()
                if data.startswith(b"#!"):
                    data = b"#!/usr/bin/python3" + data[data.index(b"\n") :]
                (bin_dir / script.name).write_bytes(data)
                (bin_dir / script.name).chmod(0o755)
            shutil.rmtree(site / "bin")
        _compile(site, "/" + SITE)
        _write_layer(dest, stage, {"site": SITE, "bin": "usr/local/bin"})
    if log:
        size = dest.stat().st_size / 1e6
        took = time.monotonic() - t0
        print(f"[images] platform deps layer {dest.name}: {size:.0f} MB in {took:.0f}s", file=sys.stderr)
    return dest


def _app_files() -> list[Path]:
    files: list[Path] = []
    for entry in APP_PATHS:
        path = REPO_ROOT / entry
        if path.is_dir():
            files += [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
            ]
        else:
            files.append(path)
    return files


def app_key() -> str:
    h = hashlib.sha256(f"rev={LAYER_REV}\n".encode())
    for path in _app_files():
        h.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
        h.update(b"x" if os.access(path, os.X_OK) else b"-")
    return h.hexdigest()[:16]


def app_layer(*, log: bool = True) -> Path:
    """``/app``: the Dockerfile's COPY set with its bytecode, root-owned (0644/0755)."""
    dest = cache_root() / "layers" / f"platform-app-{app_key()}.tar"
    if dest.exists():
        return dest
    _check_python()
    dest.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="platform-app-") as tmp:
        stage = Path(tmp)
        app = stage / "app"
        for path in _app_files():
            target = app / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        _compile(app, "/app")
        _write_layer(dest, stage, {"app": "app"})
    if log:
        size = dest.stat().st_size / 1e6
        took = time.monotonic() - t0
        print(f"[images] platform app layer {dest.name}: {size:.1f} MB in {took:.1f}s", file=sys.stderr)
    return dest
