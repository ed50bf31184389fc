"""Locate (and optionally build) the control-plane binaries made by ``tools/k8s/build.sh``.

Why this exists: tests must never trigger a multi-minute compile by surprise, so the
pytest plugin only *looks* for the cached binaries (``find_binaries``) and skips when they
are absent, while ``make test``/CI run the build script first. The cache key computed here
must match ``build.sh``'s ``cache_key`` exactly (same files, same order, same hashing).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_TOOLS = REPO_ROOT / "tools" / "k8s"
BUILD_SCRIPT = K8S_TOOLS / "build.sh"
VERSIONS_FILE = K8S_TOOLS / "VERSIONS"

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
)


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """Parse ``tools/k8s/VERSIONS`` (KEY=VALUE lines), the single place versions are pinned."""
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        versions[key.strip()] = value.strip().strip("\"'")
    return versions


def kubernetes_version() -> str:
    """The pinned Kubernetes release, e.g. ``v1.36.3``."""
    return read_versions()["KUBERNETES_VERSION"]


def cache_root() -> Path:
    """Where build.sh keeps binaries: outside the repo so clones and CI runs share them."""
    env = os.environ.get("STORE_PLATFORM_K8S_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "store-platform" / "k8s"


def _key_files(root: Path = K8S_TOOLS) -> list[str]:
    files = ["VERSIONS"]
    for sub in root.iterdir():
        if not sub.is_dir():
            continue
        for f in sub.iterdir():
            if f.is_file() and (f.name in ("go.mod", "go.sum") or f.name.endswith(".go")):
                files.append(f"{sub.name}/{f.name}")
    # build.sh sorts with LC_ALL=C, i.e. by bytes.
    return sorted(files, key=lambda s: s.encode())


def cache_key(root: Path = K8S_TOOLS) -> str:
    """Same key as ``tools/k8s/build.sh --key``: version plus a hash of the build inputs."""
    digest = hashlib.sha256()
    for rel in _key_files(root):
        digest.update(rel.encode() + b"\n")
        digest.update((root / rel).read_bytes())
    version = read_versions(root / "VERSIONS")["KUBERNETES_VERSION"]
    return f"k8s-{version}-{digest.hexdigest()[:16]}"


def find_binaries() -> Path | None:
    """Return the cached bin dir for the current key, or None if it was not built.

    Never builds: callers decide whether a missing build is a skip or an error.
    """
    override = os.environ.get("STORE_PLATFORM_K8S_BIN")
    dest = Path(override) if override else cache_root() / cache_key() / "bin"
    complete = dest / ".." / ".complete"
    if not override and not complete.exists():
        return None
    if all(os.access(dest / name, os.X_OK) for name in BINARIES):
        return dest.resolve()
    return None


def build_binaries(*, quiet: bool = False) -> Path:
    """Run ``tools/k8s/build.sh`` (a no-op when cached) and return the bin dir it prints."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT} failed with exit code {proc.returncode}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        raise RuntimeError(f"{BUILD_SCRIPT} printed no bin dir")
    for line in lines[:-1]:
        print(line, file=sys.stderr)
    return Path(lines[-1])
