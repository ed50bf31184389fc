"""CLI for a long-running dev cluster: ``python -m tests.harness up|down|status``.

Why a supervisor process: ``up`` must return while the cluster keeps running, and the fake
volume provisioner and the log-size watchdog are Python threads that must keep running too.
So ``up`` starts a detached ``serve`` process (its own session) that owns a ``ControlPlane``
exactly as the pytest fixture does, writes the state file, and stops everything on SIGTERM.
``down`` signals it, then kills any leftover process group recorded in the state file, so
even a SIGKILLed supervisor leaves nothing behind.

Commands:
  up [--nodes N] [--no-build]   start (building binaries if needed); last stdout line is
                                ``KUBECONFIG=<path>``
  down                          stop and clean up
  status                        print the state (exit 0 running, 3 not running)
  provisioner --kubeconfig P    run only the fake PVC provisioner in the foreground
  serve                         internal: the supervisor started by ``up``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.harness.binaries import REPO_ROOT, build_binaries, find_binaries
from tests.harness.controlplane import WORKDIR_PREFIX, ControlPlane, kill_process_group
from tests.harness.provisioner import FakeProvisioner


def state_dir() -> Path:
    """``${XDG_RUNTIME_DIR:-/tmp}/store-platform-devcluster``."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return Path(base) / "store-platform-devcluster"


def state_file() -> Path:
    return state_dir() / "state.json"


def read_state() -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    return data


def _write_state(data: dict[str, Any]) -> None:
    path = state_file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as dead.
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields and fields[0] == "Z":
            return False
    return True


# -- up -----------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    state = read_state()
    if state and _alive(state.get("supervisor_pid")) and state.get("ready"):
        print(f"already running: {state['server']} ({state['version']})", file=sys.stderr)
        print(f"KUBECONFIG={state['kubeconfig']}")
        return 0
    if state:
        _teardown(state)  # stale state from a crashed run

    bin_dir = find_binaries()
    if bin_dir is None:
        if args.no_build:
            print("control plane binaries not built: run tools/k8s/build.sh", file=sys.stderr)
            return 1
        print("building control plane binaries (minutes on a cold cache)...", file=sys.stderr)
        bin_dir = build_binaries()

    sdir = state_dir()
    sdir.mkdir(parents=True, exist_ok=True)
    log_path = sdir / "supervisor.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.harness",
                "serve",
                "--bin-dir",
                str(bin_dir),
                "--nodes",
                str(args.nodes),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"supervisor exited with {proc.returncode}; log {log_path}:", file=sys.stderr)
            print(_tail(log_path), file=sys.stderr)
            return 1
        state = read_state()
        if state and state.get("supervisor_pid") == proc.pid and state.get("ready"):
            print(
                f"control plane {state['version']} at {state['server']} "
                f"(started in {state['startup_seconds']}s; workdir {state['workdir']})",
                file=sys.stderr,
            )
            print(f"KUBECONFIG={state['kubeconfig']}")
            return 0
        time.sleep(0.2)
    print(f"timed out after {args.timeout}s; log {log_path}:\n{_tail(log_path)}", file=sys.stderr)
    kill_process_group(proc.pid)
    return 1


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- serve (the supervisor) ---------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    sdir = state_dir()
    sdir.mkdir(parents=True, exist_ok=True)
    cp = ControlPlane(Path(args.bin_dir), nodes=args.nodes)
    _write_state({"supervisor_pid": os.getpid(), "ready": False})
    try:
        cp.start()
        kubeconfig = sdir / "kubeconfig"
        shutil.copyfile(cp.kubeconfig, kubeconfig)
        kubeconfig.chmod(0o600)
        state = cp.state() | {
            "supervisor_pid": os.getpid(),
            "ready": True,
            "kubeconfig": str(kubeconfig),
            "admin_kubeconfig_in_workdir": str(cp.kubeconfig),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_state(state)
        while not stop.wait(2.0):
            dead = [c.name for c in cp.components if not c.alive()]
            if dead != state.get("dead", []):
                state["dead"] = dead
                _write_state(state)
                print(f"components exited: {dead}", file=sys.stderr, flush=True)
    finally:
        cp.stop()
        with contextlib.suppress(OSError):
            state_file().unlink()
        with contextlib.suppress(OSError):
            (sdir / "kubeconfig").unlink()
    return 0


# -- down / status ------------------------------------------------------------------------


def _teardown(state: dict[str, Any]) -> None:
    sup = state.get("supervisor_pid")
    if isinstance(sup, int) and _alive(sup):
        kill_process_group(sup, grace=40.0)
    for pid in (state.get("pids") or {}).values():
        kill_process_group(int(pid), grace=5.0)
    workdir = state.get("workdir")
    if workdir and Path(workdir).name.startswith(WORKDIR_PREFIX):
        shutil.rmtree(workdir, ignore_errors=True)
    for name in ("state.json", "kubeconfig"):
        with contextlib.suppress(OSError):
            (state_dir() / name).unlink()


def cmd_down(_args: argparse.Namespace) -> int:
    state = read_state()
    if not state:
        print("not running", file=sys.stderr)
        return 0
    _teardown(state)
    print("stopped", file=sys.stderr)
    return 0


def cmd_status(_args: argparse.Namespace) -> int:
    state = read_state()
    if not state:
        print("not running")
        return 3
    running = _alive(state.get("supervisor_pid"))
    state["running"] = running
    state["alive"] = {n: _alive(p) for n, p in (state.get("pids") or {}).items()}
    print(json.dumps(state, indent=2))
    return 0 if running else 3


def cmd_provisioner(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    prov = FakeProvisioner(Path(args.kubeconfig), interval=args.interval)
    signal.signal(signal.SIGTERM, lambda *_: prov.stop(timeout=0))
    with contextlib.suppress(KeyboardInterrupt):
        prov.run_forever()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a detached dev cluster")
    up.add_argument("--nodes", type=int, default=2)
    up.add_argument("--no-build", action="store_true", help="fail instead of building")
    up.add_argument("--timeout", type=float, default=180.0)
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop it").set_defaults(func=cmd_down)
    sub.add_parser("status", help="print state").set_defaults(func=cmd_status)
    serve = sub.add_parser("serve", help=argparse.SUPPRESS)
    serve.add_argument("--bin-dir", required=True)
    serve.add_argument("--nodes", type=int, default=2)
    serve.set_defaults(func=cmd_serve)
    prov = sub.add_parser("provisioner", help="run the fake PVC provisioner in the foreground")
    prov.add_argument("--kubeconfig", required=True)
    prov.add_argument("--interval", type=float, default=0.5)
    prov.set_defaults(func=cmd_provisioner)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
