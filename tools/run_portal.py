"""`make run`: the portal on your cluster when one is configured, else on the built-in one.

Why: a new user's first `make run` must show the product doing its job. Without a cluster
every store would wait as *requested* forever, so when no cluster is configured this starts
the project's own control plane (the one `make dev-cluster` runs: a real API server,
controllers and scheduler, kwok playing the nodes), points the portal at it, and stops it
when the portal stops. A configured cluster always wins, reachable or not (the portal then
says it is unreachable); `EMBEDDED_CLUSTER=false` turns the built-in cluster off.

The built-in cluster is development tooling (binaries built from Go modules by
tools/k8s/build.sh); the portal itself only ever reads a kubeconfig or in-cluster config.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
FALSE = ("false", "0", "no", "off")
COLD_BUILD_NOTE = (
    "first start: building the control plane from Go modules (about 20 minutes on 2 cores; cached afterwards, seconds)"
)

Kind = Literal["kubeconfig", "in-cluster", "embedded", "none"]


@dataclass(frozen=True)
class ClusterChoice:
    kind: Kind
    reason: str


def current_context(paths: list[Path]) -> str:
    """The first ``current-context`` in the kubeconfig files, as kubectl merges them."""
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict) and doc.get("current-context"):
            return str(doc["current-context"])
    return ""


def choose_cluster(env: Mapping[str, str], *, home: Path) -> ClusterChoice:
    """Which cluster the portal uses; pure but for reading the kubeconfig files named."""
    if env.get("KUBERNETES_SERVICE_HOST"):
        return ClusterChoice("in-cluster", "running in a pod: the in-cluster config")
    named = env.get("KUBECONFIG", "")
    paths = [Path(p) for p in named.split(os.pathsep) if p] if named else [home / ".kube" / "config"]
    existing = [p for p in paths if p.is_file()]
    context = env.get("KUBE_CONTEXT", "") or current_context(existing)
    if existing and context:
        return ClusterChoice("kubeconfig", f"your kubeconfig ({', '.join(map(str, existing))}), context {context}")
    why = (
        f"{', '.join(map(str, existing))} has no current context"
        if existing
        else f"no kubeconfig ({', '.join(map(str, paths))} not found)"
    )
    if env.get("EMBEDDED_CLUSTER", "true").strip().lower() in FALSE:
        return ClusterChoice("none", f"{why}, and EMBEDDED_CLUSTER=false: stores wait until a cluster answers")
    return ClusterChoice("embedded", f"{why}: starting the built-in cluster")


def _say(message: str) -> None:
    print(f"[make run] {message}", file=sys.stderr, flush=True)


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tests.harness ...``; its progress (stderr) goes to the terminal."""
    return subprocess.run(
        [sys.executable, "-m", "tests.harness", *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=False
    )


def start_embedded_cluster() -> tuple[str, bool]:
    """Start (or reuse) the dev cluster; returns (kubeconfig path, whether we started it)."""
    running = _harness("status").returncode == 0
    if not running:
        from tests.harness.binaries import find_binaries

        if find_binaries() is None:
            _say(COLD_BUILD_NOTE)
    up = _harness("up")
    lines = [line for line in up.stdout.splitlines() if line.startswith("KUBECONFIG=")]
    if up.returncode != 0 or not lines:
        raise SystemExit(f"[make run] the built-in cluster did not start (exit {up.returncode}); see the lines above")
    return lines[-1].split("=", 1)[1], not running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--port", default=os.environ.get("PORT", "8501"))
    parser.add_argument("--decide-only", action="store_true", help="print the cluster choice and exit")
    args = parser.parse_args(argv)

    choice = choose_cluster(os.environ, home=Path.home())
    _say(f"cluster: {choice.reason}")
    if args.decide_only:
        print(choice.kind)
        return 0
    env = dict(os.environ)
    started = False
    if choice.kind == "embedded":
        kubeconfig, started = start_embedded_cluster()
        env["KUBECONFIG"] = kubeconfig
        env.pop("KUBE_CONTEXT", None)
        _say(f"built-in cluster ready (KUBECONFIG={kubeconfig}); it stops when the portal stops")
    portal = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "asgi.py", "--server.port", str(args.port)], cwd=REPO_ROOT, env=env
    )

    def _stop(signum: int, _frame: object) -> None:
        portal.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, _stop)
    try:
        code = portal.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the portal too (same process group)
        code = portal.wait()
    finally:
        if started:
            _say("stopping the built-in cluster")
            _harness("down")
    return code


if __name__ == "__main__":
    sys.exit(main())
