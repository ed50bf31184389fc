"""A real Kubernetes node beside the kwok nodes: containerd + runc + kubelet + kube-proxy.

Why: on kwok nodes no container ever starts. This node runs real containers from images
built here (``tools/images``), so probes, exec, Service traffic and volumes are real. It is
opt-in twice: it needs root, and it is tainted (``TAINT``) and labelled (``NODE_LABELS``) so
only pods that tolerate the taint and select the label land on it. Opt-in on top of that:
Traefik as the cluster's ingress controller (``start_ingress_controller``), NetworkPolicy
enforcement by kube-network-policies (``enforce_network_policies``) and a probe network of
listeners for "where may this pod connect" tests (``start_probe_network``).

What it changes on the host, and how it is put back (``stop()``, and ``sweep()`` at the next
start after a killed run, driven by a journal written *before* anything is changed):

- processes: containerd, kubelet, kube-proxy, CoreDNS, Traefik, kube-network-policies
  (process groups, PDEATHSIG; the sweep kills any process whose executable is in the node's
  build cache), containerd shims and the containers' processes (killed through the
  ``kubepods`` cgroups), the probe listener (killed through its netns);
- mounts under ``STATE_DIR``/``RUN_DIR`` and the pods' network namespaces (``/run/netns/cni-*``);
- the bridge ``BRIDGE`` (pods' veths go with their netns), the probe netns ``PROBE_NETNS`` and
  its veth ``PROBE_LINK``, nftables tables ``ip kube-proxy``, ``ip6 kube-proxy``,
  ``inet store-platform-realnode``, ``inet kube-network-policies`` and the iptables-nft
  tables the kubelet creates for its canary chains (only tables that did not exist before);
- sysctls the kubelet and the CNI bridge set (``SYSCTLS``), restored to the saved values;
- directories with fixed paths the kubelet/containerd create (``FIXED_PATHS``), removed if
  they did not exist before.

Traffic stays on this machine: pods get routes to the pod range, the Service range and the
probe network's two addresses only (no default route), ``ipMasq`` is off, and a forward rule
drops anything from the pod range to an address outside it, except to those two addresses
through the probe network's veth.

One real node per machine: fixed host paths (port 10250, ``/run/containerd/s``,
``/var/lib/kubelet/device-plugins``, ``/var/log/containers``) allow no second one, so
``start()`` takes an exclusive file lock (``LOCK_FILE``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes import client

from tests.harness.binaries import REPO_ROOT
from tests.harness.controlplane import (
    SERVICE_CIDR,
    Component,
    ControlPlane,
    _die_with_parent,
    free_port,
    kill_process_group,
    write_kubeconfig,
)

NODE_BUILD_SCRIPT = REPO_ROOT / "tools" / "node" / "build.sh"
NODE_VERSIONS_FILE = REPO_ROOT / "tools" / "node" / "VERSIONS"
COREDNS_BUILD_SCRIPT = REPO_ROOT / "tools" / "node" / "coredns" / "build.sh"
TRAEFIK_BUILD_SCRIPT = REPO_ROOT / "tools" / "node" / "traefik" / "build.sh"
NETPOL_BUILD_SCRIPT = REPO_ROOT / "tools" / "node" / "netpol" / "build.sh"

NODE_NAME = "real-node-0"
POD_CIDR = "10.85.0.0/24"  # apart from kwok's fake 10.244.0.0/16 and the Services' 10.96.0.0/16
GATEWAY = "10.85.0.1"  # the bridge's address; also the node's InternalIP (kubelet listens here)
BRIDGE = "spnode0"
CNI_NETWORK = "store-platform-real"
TAINT_KEY = "store-platform.io/real-node"
TAINT = {"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}
NODE_LABELS = {TAINT_KEY: "true"}
NFT_TABLE = "store-platform-realnode"
# Cluster DNS: CoreDNS as a process on the bridge address, behind the kube-dns Service whose
# ClusterIP the kubelet gives pods. The IP is in the Service range's static band (the lowest
# 256 addresses of a /16), which dynamic allocation avoids while the range has room.
CLUSTER_DOMAIN = "cluster.local"
CLUSTER_DNS_IP = "10.96.0.10"
DNS_SERVICE = "kube-dns"
DNS_LABELS = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}

# In-cluster API clients (expose_api_server): the `kubernetes` Service's port and where the
# host-side forwarder to the API server listens (the bridge address, so only the node's pods
# and this host reach it).
API_SERVICE = "kubernetes"
API_PROXY_PORT = 6443

# The ingress controller (start_ingress_controller): Traefik as a host process, serving the
# Ingresses of this IngressClass.
INGRESS_CLASS = "traefik"
INGRESS_CONTROLLER = "traefik.io/ingress-controller"  # Traefik's IngressClass controller value
# NetworkPolicy enforcement (enforce_network_policies): kube-network-policies as a host
# process; its nftables table and the nfqueue it reads (any free queue number).
NETPOL_NFT_TABLE = "kube-network-policies"
NETPOL_QUEUE = 185
# The probe network (start_probe_network): a network namespace this harness owns, joined to
# the host by a veth pair, with TCP listeners on PROBE_PORTS at a private address and at an
# address of TEST-NET-3 (RFC 5737: documentation only, never routed), so NetworkPolicy
# tests send real packets to "a private address" and to "the internet" without any of it
# leaving this machine. Pods get routes to both; the forward rules let pod traffic through
# to PROBE_LINK only (and the answers back), nowhere else.
PROBE_NETNS = "spprobe0"
PROBE_LINK = "spprobe0h"  # host side of the veth; the netns side is its eth0
PROBE_HOST_IP = "192.168.254.1"  # the host's end of the /30
PROBE_PRIVATE_IP = "192.168.254.2"
PROBE_PUBLIC_IP = "203.0.113.2"
PROBE_IPS = (PROBE_PRIVATE_IP, PROBE_PUBLIC_IP)
PROBE_PORTS = (80, 443)
# The listener: answers "probe <address>:<port> from <peer>" and logs each connection.
PROBE_LISTENER = """
import socket, sys, threading
def serve(sock, where):
    while True:
        conn, peer = sock.accept()
        print(f"connection {where} from {peer[0]}", flush=True)
        conn.sendall(f"probe {where} from {peer[0]}\\n".encode())
        conn.close()
for where in sys.argv[1:]:
    addr, port = where.rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((addr, int(port)))
    sock.listen(16)
    threading.Thread(target=serve, args=(sock, where), daemon=True).start()
print("listening", flush=True)
threading.Event().wait()
"""

STATE_DIR = Path("/var/lib/store-platform-realnode")  # journal (survives a crash), per-run dirs
RUN_DIR = Path("/run/store-platform-realnode")  # sockets, containerd state
LOCK_FILE = Path("/run/store-platform-realnode.lock")
JOURNAL = STATE_DIR / "journal.json"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")

# Set by the kubelet (setupKernelTunables), the CNI bridge (ip_forward) or kube-proxy.
SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_tcp_timeout_established",
    "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
)
# Fixed paths the kubelet, containerd or CNI create whatever their configured roots are.
FIXED_PATHS = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/run/containerd",
    "/run/netns",
    "/var/lib/cni",
    "/etc/cni",
    "/opt/cni",
)
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw", "security")
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"


class RealNodeUnavailable(RuntimeError):
    """This machine cannot run the real node (not root, binaries or packages missing)."""


class RealNodeError(RuntimeError):
    """The real node failed to start; the message carries the failing component's log."""


def node_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in NODE_VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def find_node_binaries() -> Path | None:
    """The cached bin dir of ``tools/node/build.sh`` (never builds: that takes minutes)."""
    override = os.environ.get("STORE_PLATFORM_NODE_BIN")
    if override:
        return Path(override)
    proc = subprocess.run(["bash", str(NODE_BUILD_SCRIPT), "--print"], capture_output=True, text=True, check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def tool_version(script: Path) -> str:
    """The version pinned in the VERSION file next to a build script (e.g. ``v3.7.13``)."""
    for raw in (script.parent / "VERSION").read_text().splitlines():
        key, sep, value = raw.strip().partition("=")
        if sep and not key.startswith("#") and key.endswith("_VERSION"):
            return value
    return "?"


def _find_cached(script: Path, override_env: str) -> Path | None:
    override = os.environ.get(override_env)
    if override:
        return Path(override)
    proc = subprocess.run(["bash", str(script), "--print"], capture_output=True, text=True, check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def find_coredns() -> Path | None:
    """The cached bin dir of ``tools/node/coredns/build.sh`` (never builds)."""
    return _find_cached(COREDNS_BUILD_SCRIPT, "STORE_PLATFORM_COREDNS_BIN")


def find_traefik() -> Path | None:
    """The cached bin dir of ``tools/node/traefik/build.sh`` (never builds)."""
    return _find_cached(TRAEFIK_BUILD_SCRIPT, "STORE_PLATFORM_TRAEFIK_BIN")


def find_netpol() -> Path | None:
    """The cached bin dir of ``tools/node/netpol/build.sh`` (never builds)."""
    return _find_cached(NETPOL_BUILD_SCRIPT, "STORE_PLATFORM_NETPOL_BIN")


def unavailable_reason() -> str | None:
    """Why the real node cannot run here, or None if it can (cheap; used to skip tests)."""
    if os.geteuid() != 0:
        return "the real node needs root (containerd, runc, mounts, network namespaces, cgroups)"
    if not CGROUP_ROOT.is_dir():
        return f"no cgroup filesystem at {CGROUP_ROOT}"
    missing = [tool for tool in ("runc", "nft", "ip", "iptables") if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)}: run scripts/install-test-deps.sh (or make real-node)"
    if not any(Path(d, "bridge").exists() and Path(d, "host-local").exists() for d in CNI_BIN_DIRS):
        return "CNI plugins missing: apt-get install containernetworking-plugins (make real-node)"
    if find_node_binaries() is None:
        return "real node binaries not built: run tools/node/build.sh (make real-node)"
    if find_coredns() is None:
        return "CoreDNS (cluster DNS) not built: run tools/node/coredns/build.sh (make real-node)"
    return None


def ingress_unavailable_reason() -> str | None:
    """Why ``start_ingress_controller()`` cannot run here (besides the node itself), or None."""
    if find_traefik() is None:
        return "Traefik (ingress controller) not built: run tools/node/traefik/build.sh (make real-node)"
    return None


def netpol_unavailable_reason() -> str | None:
    """Why ``enforce_network_policies()`` / ``start_probe_network()`` cannot run here, or None."""
    if find_netpol() is None:
        return "kube-network-policies not built: run tools/node/netpol/build.sh (make real-node)"
    if not Path("/proc/net/netfilter/nfnetlink_queue").exists():
        return "the kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE)"
    return None


# -- small host helpers ----------------------------------------------------------------------


def _run(*argv: str, check: bool = False, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, input=input_text)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values: dict[str, str] = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = _sysctl_path(name).read_text().strip()
    return values


def restore_sysctls(saved: dict[str, str]) -> list[str]:
    """Write back saved values; returns the names that had changed."""
    changed = []
    for name, value in saved.items():
        path = _sysctl_path(name)
        try:
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
                changed.append(name)
        except OSError:
            continue
    return changed


def nft_tables() -> list[str]:
    """``family name`` of every nftables table."""
    proc = _run("nft", "list", "tables")
    return [line.removeprefix("table ").strip() for line in proc.stdout.splitlines() if line.startswith("table ")]


def _mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if any(point == p or point.startswith(p.rstrip("/") + "/") for p in prefixes):
                points.append(point)
    # deepest first
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_under(*prefixes: str) -> int:
    count = 0
    for _ in range(5):
        points = _mounts_under(prefixes)
        if not points:
            break
        for point in points:
            if _run("umount", point).returncode != 0:
                _run("umount", "-l", point)
            count += 1
    return count


def _pids_in_cgroups() -> set[int]:
    pids: set[int] = set()
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / KUBEPODS
        if not top.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    pids.update(int(p) for p in Path(dirpath, "cgroup.procs").read_text().split())
    return pids


def _pids_with_exe_under(root: Path) -> set[int]:
    pids: set[int] = set()
    prefix = str(root.resolve()) + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "exe").startswith(prefix):
                pids.add(int(entry.name))
    return pids


def _exe(pid: int) -> str:
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/{pid}/exe")
    return ""


def kill_pids(find: Callable[[], set[int]], timeout: float = 10.0) -> int:
    """SIGKILL whatever ``find()`` returns until it returns nothing (or time runs out)."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = find() - {os.getpid()}
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.1)
    return len(killed)


def remove_kubepods_cgroups() -> int:
    removed = 0
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / KUBEPODS
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
                removed += 1
    return removed


def _delete_kube_iptables_chains() -> None:
    """Remove KUBE-* chains (the kubelet's canaries) from every iptables-nft table."""
    for tool in ("iptables", "ip6tables"):
        if shutil.which(tool) is None:
            continue
        for table in IPTABLES_TABLES:
            rules = _run(tool, "-t", table, "-S").stdout.splitlines()
            for rule in rules:
                if rule.startswith("-A ") and " -j KUBE-" in rule:
                    _run(tool, "-t", table, *("-D " + rule[3:]).split())
            for rule in rules:
                if rule.startswith("-N KUBE-"):
                    chain = rule.split()[1]
                    _run(tool, "-t", table, "-F", chain)
                    _run(tool, "-t", table, "-X", chain)


def remove_probe_network() -> int:
    """Kill what runs in PROBE_NETNS, delete it and PROBE_LINK; 1 if there was one."""
    found = 0
    if Path("/run/netns", PROBE_NETNS).exists():
        found = 1

        def in_netns() -> set[int]:
            out = _run("ip", "netns", "pids", PROBE_NETNS).stdout
            return {int(p) for p in out.split() if p.isdigit()}

        kill_pids(in_netns)
        _run("ip", "netns", "del", PROBE_NETNS)
    if Path(f"/sys/class/net/{PROBE_LINK}").exists():
        found = 1
        _run("ip", "link", "del", PROBE_LINK)
    return found


# -- journal: what to put back, written before anything changes ------------------------------


def write_journal() -> dict[str, Any]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    journal = {
        "pid": os.getpid(),
        "started": time.time(),
        "sysctls": read_sysctls(),
        "nft_tables": nft_tables(),
        "preexisting_paths": [p for p in FIXED_PATHS if os.path.lexists(p)],
    }
    tmp = JOURNAL.with_suffix(".tmp")
    tmp.write_text(json.dumps(journal, indent=2))
    os.replace(tmp, JOURNAL)
    return journal


def sweep(
    bin_dir: Path | None = None, *, journal: dict[str, Any] | None = None, say: Callable[[str], None] = print
) -> dict[str, int]:
    """Put the host back: kill, unmount, delete and restore what a real node left.

    Called by ``stop()`` and, at ``start()``, for what a killed run left (its journal is
    still on disk). Idempotent. The caller must hold the lock.
    """
    if journal is None:
        try:
            journal = json.loads(JOURNAL.read_text())
        except (OSError, ValueError):
            journal = None
    report: dict[str, int] = {}
    t0 = time.monotonic()
    marks: list[str] = []

    def mark(what: str) -> None:
        marks.append(f"{what} {time.monotonic() - t0:.1f}s")

    node_cache = bin_dir.parent.parent if bin_dir is not None else None
    # 1. processes: kubelet, kube-proxy, containerd, shims (by executable), then containers.
    if node_cache is not None:
        report["node processes"] = kill_pids(lambda: _pids_with_exe_under(node_cache))
    mark("node processes")
    report["container processes"] = kill_pids(_pids_in_cgroups)
    mark("containers")
    # 2. mounts and network namespaces.
    netns = [str(p) for p in Path("/run/netns").glob("cni-*")] if Path("/run/netns").is_dir() else []
    report["mounts"] = unmount_under(str(RUN_DIR), str(STATE_DIR), "/run/containerd", "/var/lib/kubelet", *netns)
    for ns in netns:
        with contextlib.suppress(OSError):
            os.unlink(ns)
    report["netns"] = len(netns)
    mark("mounts")
    # 3. network: bridge, nftables, iptables canaries.
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        _run("ip", "link", "del", BRIDGE)
        report["bridge"] = 1
    report["probe network"] = remove_probe_network()
    before = set((journal or {}).get("nft_tables", []))
    ours = {"ip kube-proxy", "ip6 kube-proxy", f"inet {NFT_TABLE}", f"inet {NETPOL_NFT_TABLE}"}
    _delete_kube_iptables_chains()
    for table in nft_tables():
        family, _, name = table.partition(" ")
        iptables_made = family in ("ip", "ip6") and name in IPTABLES_TABLES and journal is not None
        if table in before and table not in ours:
            continue
        if table in ours or iptables_made:
            _run("nft", "delete", "table", family, name)
            report["nft tables"] = report.get("nft tables", 0) + 1
    mark("network")
    # 4. cgroups and files.
    report["cgroups"] = remove_kubepods_cgroups()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    for sub in ("runs",):
        shutil.rmtree(STATE_DIR / sub, ignore_errors=True)
    if journal is not None:
        for path in FIXED_PATHS:
            if path not in journal.get("preexisting_paths", []) and os.path.lexists(path):
                shutil.rmtree(path, ignore_errors=True)
                report["paths"] = report.get("paths", 0) + 1
        changed = restore_sysctls(journal.get("sysctls", {}))
        report["sysctls"] = len(changed)
        JOURNAL.unlink(missing_ok=True)
    mark("files")
    say(f"sweep: {', '.join(marks)}")
    return {k: v for k, v in report.items() if v}


# -- the node ----------------------------------------------------------------------------------


@dataclass
class Images:
    """What the node imported: ref -> seconds the import took."""

    imported: dict[str, float]


class TcpForwarder:
    """Relay TCP connections from ``listen`` to ``target`` (threads in this process).

    Bytes only: TLS passes through untouched, so clients see the target's own certificate.
    """

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen, self.target = listen, target
        self.connections = 0
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TcpForwarder:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(self.listen)
        sock.listen(64)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="api-forwarder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._relay, args=(conn,), name="api-forwarder-conn", daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            conn.close()
            return
        pair = {conn: upstream, upstream: conn}
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select(list(pair), [], [], 0.5)
                for src in readable:
                    data = src.recv(65536)
                    if not data:
                        return
                    pair[src].sendall(data)
        except OSError:
            return
        finally:
            conn.close()
            upstream.close()


class RealNode:
    """containerd, kubelet and kube-proxy as processes, registered to ``control_plane``.

    ``start()`` waits until the Node is Ready; ``stop()`` puts the host back. Attributes:
    ``name``, ``bin_dir``, ``workdir``, ``timings`` (seconds per step), ``containerd_address``.
    """

    def __init__(
        self,
        control_plane: ControlPlane,
        *,
        name: str = NODE_NAME,
        bin_dir: Path | None = None,
        lock_timeout: float = 300.0,
        quiet: bool = False,
    ) -> None:
        self.cp = control_plane
        self.name = name
        self.bin_dir = bin_dir or Path()
        self._bin_dir_arg = bin_dir
        self.lock_timeout = lock_timeout
        self.quiet = quiet
        self.workdir = STATE_DIR / "runs" / "current"
        self.containerd_address = str(RUN_DIR / "containerd" / "containerd.sock")
        self.components: list[Component] = []
        self.timings: dict[str, float] = {}
        self.imported: dict[str, float] = {}
        self._lock_fd: int | None = None
        self._journal: dict[str, Any] | None = None
        self._started = False
        self._api_forwarder: TcpForwarder | None = None
        self.ingress_url: str | None = None
        self.probe_log: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> RealNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> RealNode:
        reason = unavailable_reason()
        if reason:
            raise RealNodeUnavailable(reason)
        if self._bin_dir_arg is None:
            found = find_node_binaries()
            assert found is not None
            self.bin_dir = found
        t0 = time.monotonic()
        self._lock()
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = round(time.monotonic() - t0, 2)
        self._say(f"real node {self.name} Ready in {self.timings['total']:.1f}s ({self.timings})")
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        t0 = time.monotonic()
        with contextlib.suppress(Exception):
            self._delete_node_object()
        with contextlib.suppress(Exception):
            self._delete_dns_service()
        with contextlib.suppress(Exception):
            self._unexpose_api_server()
        with contextlib.suppress(Exception):
            self._delete_ingress_class()
        for comp in reversed(self.components):
            if comp.proc is not None and comp.proc.poll() is None:
                t_comp = time.monotonic()
                kill_process_group(comp.proc.pid, grace=5)
                self._say(f"stopped {comp.name} in {time.monotonic() - t_comp:.1f}s")
            if comp.proc is not None:
                with contextlib.suppress(Exception):
                    comp.proc.wait(timeout=1)
        report = sweep(self.bin_dir, journal=self._journal, say=self._say)
        self._journal = None
        self.probe_log = None
        self._unlock()
        self._say(f"real node stopped and host put back in {time.monotonic() - t0:.1f}s: {report}")

    def restart(self, *, kill_containers: bool = True) -> float:
        """Stop containerd and the kubelet and start them again; returns the seconds until
        the kubelet reports the Node Ready again.

        ``kill_containers`` also kills every shim and container, as a reboot does: the
        kubelet must then recreate each pod's sandbox and containers from the API objects,
        while images and volume directories stay on disk. kube-proxy and CoreDNS keep running
        (their rules and answers do not depend on the runtime).
        """
        t0 = time.monotonic()
        stopped_at = time.time()
        for comp in [c for c in self.components if c.name in ("kubelet", "containerd")]:
            if comp.proc is not None and comp.proc.poll() is None:
                kill_process_group(comp.proc.pid, grace=5)
                with contextlib.suppress(Exception):
                    comp.proc.wait(timeout=5)
            self.components.remove(comp)
        if kill_containers:
            shim = str(self.bin_dir / "containerd-shim-runc-v2")
            kill_pids(lambda: {p for p in _pids_with_exe_under(self.bin_dir) if _exe(p) == shim})
            kill_pids(_pids_in_cgroups)
        self._start_containerd()
        self._start_kubelet()
        self._wait("node Ready after restart", lambda: self._node_ready(heartbeat_after=stopped_at), timeout=120)
        seconds = round(time.monotonic() - t0, 2)
        self._say(f"restarted containerd and the kubelet (containers killed: {kill_containers}) in {seconds:.1f}s")
        return seconds

    # -- the API server for in-cluster clients ---------------------------------------------

    def expose_api_server(self) -> str:
        """Let pods on this node reach the API server through the ``kubernetes`` Service.

        Opt-in (a test calls it, e.g. for the chart's worker with its ServiceAccount); stays
        until ``stop()``. Returns ``GATEWAY:API_PROXY_PORT``.

        Why it is needed: the harness's API server binds and advertises 127.0.0.1
        (``controlplane.py``), which a pod cannot reach, and runs with
        ``--endpoint-reconciler-type=none``, so ``default/kubernetes`` (10.96.0.1:443, what
        in-cluster clients use from ``KUBERNETES_SERVICE_HOST``) has no endpoints.

        What it does: a TCP forwarder in this process (``TcpForwarder``) listens on the
        bridge address ``GATEWAY:API_PROXY_PORT`` (reachable from the node's pods and this
        host only) and relays to the API server's 127.0.0.1 port, and an EndpointSlice for
        the ``kubernetes`` Service names that address, so kube-proxy DNATs 10.96.0.1:443
        there, as it does for kube-dns. TLS passes through: pods see the API server's own
        certificate, whose SANs already hold ``IP:10.96.0.1`` and ``kubernetes.default.svc``
        (``.cluster.local``), and verify it with the ServiceAccount's ``ca.crt`` (the
        harness CA, ``--root-ca-file``).

        Chosen over: binding the API server to the bridge address or 0.0.0.0 (changes the
        control plane of every test, and the bridge exists only with a real node); a DNAT
        to 127.0.0.1 (needs ``route_localnet=1`` on the host); an apiserver endpoint
        reconciler (it would publish 127.0.0.1, not a valid endpoint).
        """
        if self._api_forwarder is not None:
            return f"{GATEWAY}:{API_PROXY_PORT}"
        target = urlsplit(self.cp.server)
        assert target.hostname and target.port, self.cp.server
        self._api_forwarder = TcpForwarder((GATEWAY, API_PROXY_PORT), (target.hostname, target.port)).start()
        api = self.cp.api_client()
        try:
            service: Any = client.CoreV1Api(api).read_namespaced_service(API_SERVICE, "default")
            port_name = service.spec.ports[0].name or ""
            discovery = client.DiscoveryV1Api(api)
            name = f"{API_SERVICE}-{self.name}"
            with contextlib.suppress(client.ApiException):
                discovery.delete_namespaced_endpoint_slice(name, "default")
            discovery.create_namespaced_endpoint_slice(
                "default",
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": name,
                        "labels": {
                            "kubernetes.io/service-name": API_SERVICE,
                            "endpointslice.kubernetes.io/managed-by": "store-platform.test-realnode",
                        },
                    },
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}}],
                    "ports": [{"name": port_name, "protocol": "TCP", "port": API_PROXY_PORT}],
                },
            )
        finally:
            api.close()
        self._say(f"API server for pods: Service {API_SERVICE} -> {GATEWAY}:{API_PROXY_PORT} -> {self.cp.server}")
        return f"{GATEWAY}:{API_PROXY_PORT}"

    def _unexpose_api_server(self) -> None:
        if self._api_forwarder is None:
            return
        self._api_forwarder.stop()
        self._api_forwarder = None
        api = self.cp.api_client()
        try:
            with contextlib.suppress(client.ApiException):
                client.DiscoveryV1Api(api).delete_namespaced_endpoint_slice(f"{API_SERVICE}-{self.name}", "default")
        finally:
            api.close()

    # -- ingress controller, NetworkPolicy enforcement, probe network (opt-in) ---------------

    def start_ingress_controller(self) -> str:
        """Traefik, the cluster's ingress controller, as a host process; returns its URL.

        Opt-in (a test or fixture calls it); stays until ``stop()``. Its kubernetesingress
        provider reads the cluster with the admin kubeconfig (``KUBECONFIG``) and serves the
        Ingresses of IngressClass ``INGRESS_CLASS`` (created here, controller
        ``traefik.io/ingress-controller``) on ``http://127.0.0.1:<free port>``; requests are
        routed by Host header to the Service's endpoints, the pods' IPs, which this host
        reaches over the node's bridge. Its ping endpoint (readiness) has its own port. No
        dashboard, no version check, no usage reporting: nothing leaves the machine. Its log
        (access log included) is ``log_path("traefik")``.

        It runs as root on the node, so kube-network-policies lets its packets through as
        node traffic (upstream's rule ``meta skuid 0 accept``, for kubelet probes): a store's
        ``allow-ingress-controller-to-web`` policy, which admits a controller *pod* by its
        namespace, is not what admits it here.
        """
        if self.ingress_url is not None:
            return self.ingress_url
        bin_dir = find_traefik()
        if bin_dir is None:
            raise RealNodeUnavailable("Traefik not built: run tools/node/traefik/build.sh (make real-node)")
        self._apply_ingress_class()
        port, ping_port = free_port(), free_port()
        self._spawn(
            "traefik",
            [
                "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false",
                f"--entryPoints.web.address=127.0.0.1:{port}",
                f"--entryPoints.traefik.address=127.0.0.1:{ping_port}",
                "--ping=true",
                "--ping.entryPoint=traefik",
                "--providers.kubernetesingress=true",
                f"--providers.kubernetesingress.ingressClass={INGRESS_CLASS}",
                "--log.level=INFO",
                "--log.noColor=true",
                "--accesslog=true",
            ],
            binary=bin_dir / "traefik",
            env={"KUBECONFIG": str(self.cp.kubeconfig)},
        )

        def ready() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{ping_port}/ping", timeout=2) as resp:
                return bool(resp.status == 200)

        t0 = time.monotonic()
        self._wait("Traefik ping", ready, timeout=60)
        self.timings["ingress controller"] = round(time.monotonic() - t0, 2)
        self.ingress_url = f"http://127.0.0.1:{port}"
        self._say(f"ingress controller: Traefik on {self.ingress_url} (IngressClass {INGRESS_CLASS})")
        return self.ingress_url

    def _apply_ingress_class(self) -> None:
        api = self.cp.api_client()
        try:
            client.NetworkingV1Api(api).create_ingress_class(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "IngressClass",
                    "metadata": {"name": INGRESS_CLASS},
                    "spec": {"controller": INGRESS_CONTROLLER},
                }
            )
        except client.ApiException as exc:
            if exc.status != 409:
                raise
        finally:
            api.close()

    def _delete_ingress_class(self) -> None:
        if self.ingress_url is None:
            return
        self.ingress_url = None
        api = self.cp.api_client()
        try:
            with contextlib.suppress(client.ApiException):
                client.NetworkingV1Api(api).delete_ingress_class(INGRESS_CLASS)
        finally:
            api.close()

    def enforce_network_policies(self) -> None:
        """Start kube-network-policies: NetworkPolicies apply to this node's pods for real.

        Opt-in, until ``stop_network_policies()`` or ``stop()``. A host process (upstream runs
        it as a DaemonSet) with the admin kubeconfig and ``--hostname-override`` = this node.
        It keeps an nftables table ``inet NETPOL_NFT_TABLE`` whose postrouting chain sends the
        first packet of each new connection from or to a local pod that a policy selects to
        nfqueue ``NETPOL_QUEUE``; it answers accept or drop by the policies (fail closed: with
        no reader on the queue those packets are dropped). Node traffic from root (the
        kubelet's probes, CoreDNS's answers, Traefik) is let through by upstream design.
        Admin/baseline admin network policies are off (their CRDs are not installed).

        Returns once the table exists and the queue has its reader. New pods' IPs reach the
        table a moment after the API server publishes them: wait with ``policy_applies_to``.
        """
        if any(c.name == "kube-network-policies" and c.alive() for c in self.components):
            return
        bin_dir = find_netpol()
        if bin_dir is None:
            raise RealNodeUnavailable("kube-network-policies not built: run tools/node/netpol/build.sh")
        t0 = time.monotonic()
        self._spawn(
            "kube-network-policies",
            [
                f"--hostname-override={self.name}",
                f"--nfqueue-id={NETPOL_QUEUE}",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                "--v=2",
            ],
            binary=bin_dir / "kube-network-policies",
            env={"KUBECONFIG": str(self.cp.kubeconfig)},
        )

        def ready() -> bool:
            tables = nft_tables()
            queues = Path("/proc/net/netfilter/nfnetlink_queue").read_text().split("\n")
            return f"inet {NETPOL_NFT_TABLE}" in tables and any(q.split()[:1] == [str(NETPOL_QUEUE)] for q in queues)

        self._wait("kube-network-policies table and queue", ready, timeout=60)
        self.timings["network policies"] = round(time.monotonic() - t0, 2)
        self._say(f"NetworkPolicies enforced: kube-network-policies, nfqueue {NETPOL_QUEUE}")

    def stop_network_policies(self) -> None:
        """Stop the enforcer and delete its table (it leaves it behind on SIGTERM)."""
        for comp in [c for c in self.components if c.name == "kube-network-policies"]:
            if comp.proc is not None and comp.proc.poll() is None:
                kill_process_group(comp.proc.pid, grace=5)
                with contextlib.suppress(Exception):
                    comp.proc.wait(timeout=5)
            self.components.remove(comp)
        if f"inet {NETPOL_NFT_TABLE}" in nft_tables():
            _run("nft", "delete", "table", "inet", NETPOL_NFT_TABLE)

    def policy_applies_to(self, pod_ip: str) -> bool:
        """True when the enforcer's table lists ``pod_ip`` (a local pod some policy selects)."""
        proc = _run("nft", "list", "set", "inet", NETPOL_NFT_TABLE, "podips-v4")
        return proc.returncode == 0 and any(
            pod_ip in (token.strip(",{}") for token in line.split()) for line in proc.stdout.splitlines()
        )

    def start_probe_network(self) -> dict[str, str]:
        """A network namespace with TCP listeners, for tests of where pods may connect.

        ``PROBE_NETNS`` joined to the host by a veth pair (``PROBE_LINK``, 192.168.254.0/30),
        holding ``PROBE_PRIVATE_IP`` and ``PROBE_PUBLIC_IP`` (TEST-NET-3, never routed
        anywhere); a Python listener in it answers on ``PROBE_PORTS`` of both and logs each
        connection with the peer's address to ``probe_log``. The host routes the two
        addresses into the netns; the netns routes only the pod range back; the forward
        rules (``_setup_network``) pass pod traffic to the veth and its answers, nothing
        else. Opt-in; removed by ``stop()`` and by the sweep after a killed run. Returns
        ``{"private": ip, "public": ip}``.
        """
        if self.probe_log is not None:
            return {"private": PROBE_PRIVATE_IP, "public": PROBE_PUBLIC_IP}
        remove_probe_network()
        ns = PROBE_NETNS
        for argv in (
            ("ip", "netns", "add", ns),
            ("ip", "link", "add", PROBE_LINK, "type", "veth", "peer", "name", "eth0", "netns", ns),
            ("ip", "addr", "add", f"{PROBE_HOST_IP}/30", "dev", PROBE_LINK),
            ("ip", "link", "set", PROBE_LINK, "up"),
            ("ip", "-n", ns, "link", "set", "lo", "up"),
            ("ip", "-n", ns, "addr", "add", f"{PROBE_PRIVATE_IP}/30", "dev", "eth0"),
            ("ip", "-n", ns, "addr", "add", f"{PROBE_PUBLIC_IP}/32", "dev", "eth0"),
            ("ip", "-n", ns, "link", "set", "eth0", "up"),
            ("ip", "-n", ns, "route", "add", POD_CIDR, "via", PROBE_HOST_IP),
            ("ip", "route", "add", f"{PROBE_PUBLIC_IP}/32", "via", PROBE_PRIVATE_IP, "dev", PROBE_LINK),
        ):
            proc = _run(*argv)
            if proc.returncode != 0:
                raise RealNodeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
        wheres = [f"{ip}:{port}" for ip in PROBE_IPS for port in PROBE_PORTS]
        ip_tool = shutil.which("ip")
        assert ip_tool is not None
        comp = self._spawn(
            "probe-listener",
            ["netns", "exec", ns, sys.executable, "-c", PROBE_LISTENER, *wheres],
            binary=Path(ip_tool),
        )
        self._wait("probe listener", lambda: "listening" in comp.log.read_text(), timeout=30)
        self.probe_log = comp.log
        self._say(f"probe network: {ns} listening on {', '.join(wheres)}")
        return {"private": PROBE_PRIVATE_IP, "public": PROBE_PUBLIC_IP}

    def probe_connections(self) -> list[tuple[str, str]]:
        """(address:port, peer IP) of every connection the probe listener accepted so far."""
        if self.probe_log is None:
            return []
        out = []
        for line in self.probe_log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[0] == "connection" and parts[2] == "from":
                out.append((parts[1], parts[3]))
        return out

    # -- images ----------------------------------------------------------------------------

    def import_image(self, archive: Path) -> float:
        """``ctr images import`` a docker-archive into the node; returns the seconds taken."""
        t0 = time.monotonic()
        proc = _run(
            str(self.bin_dir / "ctr"), "--address", self.containerd_address, "-n", "k8s.io",
            "images", "import", "--local", str(archive),
        )  # fmt: skip
        if proc.returncode != 0:
            raise RealNodeError(f"ctr images import {archive} failed: {proc.stderr.strip()}")
        seconds = round(time.monotonic() - t0, 2)
        self.imported[archive.name] = seconds
        return seconds

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(str(self.bin_dir / "ctr"), "--address", self.containerd_address, "-n", "k8s.io", *args)

    # -- internals -------------------------------------------------------------------------

    def _say(self, msg: str) -> None:
        if not self.quiet:
            print(f"[realnode] {msg}", file=sys.stderr, flush=True)

    def _lock(self) -> None:
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise RealNodeError(
                        f"another real node holds {LOCK_FILE} (pid {holder or '?'}) for over {self.lock_timeout:g}s"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _step(self, what: str, t0: float) -> None:
        self.timings[what] = round(time.monotonic() - t0, 2)

    def _start(self) -> None:
        t = time.monotonic()
        if JOURNAL.exists():
            report = sweep(self.bin_dir, say=self._say)
            self._say(f"swept what a killed run left: {report}")
        else:
            # No journal: a clean host, or a run killed before writing one. Sweep without
            # restoring anything (there is nothing saved to restore).
            sweep(self.bin_dir, journal=None, say=self._say)
        self._journal = write_journal()
        self._step("sweep", t)

        t = time.monotonic()
        shutil.rmtree(self.workdir, ignore_errors=True)
        for sub in ("logs", "pki", "cni/net.d", "kubelet", "containerd", "pod-logs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (RUN_DIR / "containerd").mkdir(parents=True, exist_ok=True)
        self._write_pki()
        self._setup_network()
        self._step("config", t)

        t = time.monotonic()
        self._start_containerd()
        self._step("containerd", t)

        t = time.monotonic()
        self._import_sandbox_image()
        self._step("pause image", t)

        t = time.monotonic()
        self._start_coredns()
        self._step("cluster DNS", t)

        t = time.monotonic()
        self._start_kubelet()
        self._start_kube_proxy()
        self._wait("node Ready", self._node_ready, timeout=90)
        self._step("node Ready", t)

    # certificates ----------------------------------------------------------------------------

    def _write_pki(self) -> None:
        pki = self.cp._pki
        if pki is None:
            raise RealNodeError("control plane has no PKI (not started?)")
        node = pki.issue(f"node-{self.name}", f"system:node:{self.name}", organizations=("system:nodes",))
        serving = pki.issue(
            f"kubelet-serving-{self.name}", f"system:node:{self.name}",
            server_sans=(f"IP:{GATEWAY}", f"DNS:{self.name}", "IP:127.0.0.1"),
        )  # fmt: skip
        proxy = pki.issue("kube-proxy", "system:kube-proxy")
        self.ca = pki.ca.cert
        self.serving = serving
        self.kubelet_kubeconfig = write_kubeconfig(
            self.workdir / "kubelet.kubeconfig", self.cp.server, pki.ca.cert, node, "kubelet"
        )
        self.proxy_kubeconfig = write_kubeconfig(
            self.workdir / "kube-proxy.kubeconfig", self.cp.server, pki.ca.cert, proxy, "kube-proxy"
        )

    # network ---------------------------------------------------------------------------------

    def _setup_network(self) -> None:
        prefix = POD_CIDR.split("/")[1]
        for argv in (
            ("ip", "link", "add", BRIDGE, "type", "bridge"),
            ("ip", "addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE),
            ("ip", "link", "set", BRIDGE, "up"),
            # The host reaches ClusterIPs over the bridge (kube-proxy DNATs its output), and
            # nothing for the Service range leaves the machine by the default route. The
            # route goes with the bridge.
            ("ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", GATEWAY),
        ):
            proc = _run(*argv)
            if proc.returncode != 0:
                raise RealNodeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
        # Nothing from the pod range may be forwarded anywhere but the pod range (and the probe
        # network's two addresses, through its veth only): no route out.
        probe_ips = ", ".join(PROBE_IPS)
        ruleset = f"""
table inet {NFT_TABLE} {{
    chain forward {{
        type filter hook forward priority -10; policy accept;
        oifname "{PROBE_LINK}" ip saddr {POD_CIDR} ip daddr {{ {probe_ips} }} accept
        iifname "{PROBE_LINK}" ip saddr {{ {probe_ips} }} ip daddr {POD_CIDR} accept
        iifname "{PROBE_LINK}" counter drop
        ip saddr {POD_CIDR} ip daddr != {POD_CIDR} counter drop
        ip daddr {POD_CIDR} ip saddr != {{ {POD_CIDR}, {GATEWAY} }} counter drop
    }}
}}
"""
        proc = _run("nft", "-f", "-", input_text=ruleset)
        if proc.returncode != 0:
            raise RealNodeError(f"nft -f failed: {proc.stderr.strip()}")
        cni_bin = next(d for d in CNI_BIN_DIRS if Path(d, "bridge").exists())
        self.cni_bin = cni_bin
        conf = {
            "cniVersion": "1.0.0",
            "name": CNI_NETWORK,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "isDefaultGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(RUN_DIR / "cni-ipam"),
                        "ranges": [[{"subnet": POD_CIDR, "gateway": GATEWAY}]],
                        # The probe network's addresses: unreachable (dropped on the host)
                        # unless a test starts it (start_probe_network).
                        "routes": [{"dst": SERVICE_CIDR}, *({"dst": f"{ip}/32"} for ip in PROBE_IPS)],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.workdir / "cni" / "net.d" / "10-store-platform.conflist").write_text(json.dumps(conf, indent=2))

    # containerd ------------------------------------------------------------------------------

    def sandbox_ref(self) -> str:
        return f"docker.io/store-platform-test/pause:{node_versions()['PAUSE_VERSION']}"

    def _start_containerd(self) -> None:
        run = RUN_DIR / "containerd"
        config = f"""version = 3
root = "{self.workdir / "containerd"}"
state = "{run}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = "{self.containerd_address}"

[ttrpc]
  address = "{run / "containerd.sock.ttrpc"}"

[debug]
  level = "info"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "{self.sandbox_ref()}"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["{self.cni_bin}"]
    conf_dir = "{self.workdir / "cni" / "net.d"}"
    max_conf_num = 1
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "{shutil.which("runc")}"
        SystemdCgroup = false

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""
        path = self.workdir / "containerd.toml"
        path.write_text(config)
        self._spawn("containerd", ["--config", str(path)])
        self._wait("containerd socket", lambda: self.ctr("version").returncode == 0, timeout=30)

    def _import_sandbox_image(self) -> None:
        from tools.images.build import build_image

        archive = build_image("pause", pause_binary=self.bin_dir / "pause", log=False)
        self.import_image(archive)

    # cluster DNS -----------------------------------------------------------------------------

    def _start_coredns(self) -> None:
        """CoreDNS on GATEWAY:53 serving CLUSTER_DOMAIN from the API server (admin kubeconfig),
        reached by pods through the kube-dns Service (CLUSTER_DNS_IP) and an EndpointSlice
        pointing at GATEWAY; kube-proxy does the rest. Other names get NXDOMAIN at once:
        nothing is forwarded off this machine."""
        coredns_bin = find_coredns()
        if coredns_bin is None:
            raise RealNodeUnavailable("CoreDNS not built: run tools/node/coredns/build.sh")
        self.dns_ready_port = free_port()
        corefile = f"""{CLUSTER_DOMAIN}:53 {{
    bind {GATEWAY}
    errors
    ready 127.0.0.1:{self.dns_ready_port}
    kubernetes {CLUSTER_DOMAIN} {{
        kubeconfig {self.cp.kubeconfig}
        pods insecure
        ttl 5
    }}
    cache 5
    loadbalance
}}
.:53 {{
    bind {GATEWAY}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""
        path = self.workdir / "Corefile"
        path.write_text(corefile)
        self._apply_dns_service()
        self._spawn("coredns", ["-conf", str(path)], binary=coredns_bin / "coredns")

        def ready() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{self.dns_ready_port}/ready", timeout=2) as resp:
                return bool(resp.status == 200)

        self._wait("CoreDNS ready", ready, timeout=60)

    def _apply_dns_service(self) -> None:
        api = self.cp.api_client()
        core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
        try:
            with contextlib.suppress(client.ApiException):
                core.delete_namespaced_service(DNS_SERVICE, "kube-system")
            with contextlib.suppress(client.ApiException):
                discovery.delete_namespaced_endpoint_slice(f"{DNS_SERVICE}-{self.name}", "kube-system")
            service = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": DNS_SERVICE, "namespace": "kube-system", "labels": DNS_LABELS},
                # No selector: the EndpointSlice below names CoreDNS's address on the node.
                "spec": {
                    "clusterIP": CLUSTER_DNS_IP,
                    "ports": [
                        {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 53},
                        {"name": "dns-tcp", "protocol": "TCP", "port": 53, "targetPort": 53},
                    ],
                },
            }
            for attempt in range(20):  # a deleted Service's ClusterIP is released asynchronously
                try:
                    core.create_namespaced_service("kube-system", service)
                    break
                except client.ApiException as exc:
                    if exc.status not in (409, 422) or attempt == 19:
                        raise
                    time.sleep(0.5)
            slice_ = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{DNS_SERVICE}-{self.name}",
                    "namespace": "kube-system",
                    "labels": {
                        "kubernetes.io/service-name": DNS_SERVICE,
                        "endpointslice.kubernetes.io/managed-by": "store-platform.test-realnode",
                        **DNS_LABELS,
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [GATEWAY], "conditions": {"ready": True}, "nodeName": self.name}],
                "ports": [
                    {"name": "dns", "protocol": "UDP", "port": 53},
                    {"name": "dns-tcp", "protocol": "TCP", "port": 53},
                ],
            }
            discovery.create_namespaced_endpoint_slice("kube-system", slice_)
        finally:
            api.close()

    def _delete_dns_service(self) -> None:
        api = self.cp.api_client()
        try:
            with contextlib.suppress(client.ApiException):
                client.CoreV1Api(api).delete_namespaced_service(DNS_SERVICE, "kube-system")
            with contextlib.suppress(client.ApiException):
                client.DiscoveryV1Api(api).delete_namespaced_endpoint_slice(f"{DNS_SERVICE}-{self.name}", "kube-system")
        finally:
            api.close()

    # kubelet and kube-proxy -------------------------------------------------------------------

    def _start_kubelet(self) -> None:
        resolv = self.workdir / "resolv.conf"
        # Pods with dnsPolicy ClusterFirst ask CoreDNS (clusterDNS); the rest (dnsPolicy
        # Default) keep their lookups inside the pod instead of the host's resolver.
        resolv.write_text("nameserver 127.0.0.1\noptions ndots:1\n")
        self.kubelet_healthz_port = free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": GATEWAY,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.kubelet_healthz_port,
            "tlsCertFile": str(self.serving.cert),
            "tlsPrivateKeyFile": str(self.serving.key),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.ca)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.containerd_address}",
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "oomScoreAdj": 0,
            "failSwapOn": False,
            # Images cannot be pulled again: never garbage-collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "registerNode": True,
            "registerWithTaints": [TAINT],
            "resolvConf": str(resolv),
            "clusterDomain": CLUSTER_DOMAIN,
            "clusterDNS": [CLUSTER_DNS_IP],
            "podLogsDir": str(self.workdir / "pod-logs"),
            "maxPods": 30,
            "serializeImagePulls": False,
            "nodeStatusReportFrequency": "10s",
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "5s",
            "fileCheckFrequency": "5s",
            "runtimeRequestTimeout": "2m",
            "volumeStatsAggPeriod": "0",
            "shutdownGracePeriod": "0s",
            "localStorageCapacityIsolation": True,
        }
        path = self.workdir / "kubelet-config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        labels = ",".join(f"{k}={v}" for k, v in {**NODE_LABELS, "type": "real"}.items())
        self._spawn(
            "kubelet",
            [
                f"--config={path}",
                f"--kubeconfig={self.kubelet_kubeconfig}",
                f"--root-dir={self.workdir / 'kubelet'}",
                f"--hostname-override={self.name}",
                f"--node-ip={GATEWAY}",
                f"--node-labels={labels}",
                "--v=2",
            ],
        )

    def _start_kube_proxy(self) -> None:
        self._spawn(
            "kube-proxy",
            [
                f"--kubeconfig={self.proxy_kubeconfig}",
                f"--hostname-override={self.name}",
                "--proxy-mode=nftables",
                f"--cluster-cidr={POD_CIDR}",
                # Leave the host's conntrack sysctls alone.
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                f"--healthz-bind-address=127.0.0.1:{free_port()}",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                f"--nodeport-addresses={GATEWAY}/32",
                "--v=2",
            ],
        )

    # process plumbing ------------------------------------------------------------------------

    def log_path(self, component: str) -> Path:
        return self.workdir / "logs" / f"{component}.log"

    def _spawn(
        self, name: str, args: list[str], *, binary: Path | None = None, env: dict[str, str] | None = None
    ) -> Component:
        log = self.log_path(name)
        comp = Component(name=name, argv=[str(binary or self.bin_dir / name), *args], log=log)
        base = dict(os.environ)
        # Clients that look for an in-cluster config first (Traefik) must not find one.
        base.pop("KUBERNETES_SERVICE_HOST", None)
        base.pop("KUBERNETES_SERVICE_PORT", None)
        # containerd finds containerd-shim-runc-v2 on PATH; runc and the CNI plugins are Debian's.
        base["PATH"] = f"{self.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        base.update(env or {})
        env = base
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            comp.proc = subprocess.Popen(
                comp.argv,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                cwd=self.workdir,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            os.close(fd)
        self.components.append(comp)
        return comp

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            for comp in self.components:
                if not comp.alive():
                    code = comp.proc.returncode if comp.proc else None
                    raise RealNodeError(f"{comp.name} exited with {code} while waiting for {what}:\n{comp.tail()}")
            try:
                if ready():
                    return
                last = None
            except Exception as exc:
                last = exc
            time.sleep(0.1)
        logs = "\n".join(f"--- {c.name} ---\n{c.tail(20)}" for c in self.components)
        raise RealNodeError(f"timed out after {timeout:g}s waiting for {what} ({last})\n{logs}")

    def _node_ready(self, *, heartbeat_after: float = 0.0) -> bool:
        api = self.cp.api_client()
        try:
            node: Any = client.CoreV1Api(api).read_node(self.name)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        finally:
            api.close()
        ready = next((c for c in node.status.conditions or [] if c.type == "Ready"), None)
        if ready is None or ready.status != "True":
            return False
        return not heartbeat_after or (
            ready.last_heartbeat_time and ready.last_heartbeat_time.timestamp() > heartbeat_after
        )

    def _delete_node_object(self) -> None:
        api = self.cp.api_client()
        try:
            client.CoreV1Api(api).delete_node(self.name)
        finally:
            api.close()


def pod_on_real_node(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the toleration and node selector a pod spec needs to land on the real node."""
    spec = dict(spec)
    spec["tolerations"] = [
        *spec.get("tolerations", []),
        {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
    ]
    spec["nodeSelector"] = {**spec.get("nodeSelector", {}), **NODE_LABELS}
    return spec


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.harness.realnode sweep``: put the host back after a killed run."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("command", choices=["sweep"])
    parser.parse_args(argv)
    if os.geteuid() != 0:
        print("sweep needs root", file=sys.stderr)
        return 1
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"a real node is running (lock {LOCK_FILE} held); not sweeping", file=sys.stderr)
        return 1
    try:
        print(sweep(find_node_binaries()))
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
