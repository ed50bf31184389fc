"""A real Kubernetes control plane as plain processes, for tests and manual use.

Why: no machine here runs containers, yet the platform's provisioning code must be proven
against real API semantics (validation, RBAC, admission, quota, namespace deletion,
controllers). So etcd, kube-apiserver, kube-controller-manager and kube-scheduler run for
real on 127.0.0.1, and kwok plays the kubelets: it keeps fake Nodes Ready and moves
scheduled Pods through Running/Ready (Job pods to Succeeded) without running containers.
A fake volume provisioner (``provisioner.py``) makes PVCs bindable.

Usage::

    with ControlPlane() as cp:
        api = kubernetes.config.new_client_from_config(config_file=str(cp.kubeconfig))

Binaries come from ``tools/k8s/build.sh``'s cache (see ``binaries.find_binaries``).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.harness.binaries import find_binaries
from tests.harness.kube import exists
from tests.harness.pki import PKI, CertPair
from tests.harness.provisioner import PROVISIONER, FakeProvisioner

KWOK_CONFIG = Path(__file__).with_name("kwok.yaml")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
DEFAULT_STORAGE_CLASS = "standard"
SERVICE_CIDR = "10.96.0.0/16"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
LOG_MAX_BYTES = 20 * 1024 * 1024
STOP_GRACE_SECONDS = 10.0

_PR_SET_PDEATHSIG = 1
WORKDIR_PREFIX = "store-platform-k8s-"
OWNER_FILE = "owner.pid"


class ControlPlaneError(RuntimeError):
    """The control plane failed to start; the message carries the failing component's log."""


def free_port() -> int:
    """Ask the kernel for an unused loopback port (tiny race window, fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM the child when its parent dies, so a killed pytest leaks nothing."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, ca: Path, user: CertPair, name: str) -> Path:
    """Write a self-contained kubeconfig (certs embedded) so it can be copied anywhere."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "store-platform-test",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca)},
            }
        ],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": _b64(user.cert),
                    "client-key-data": _b64(user.key),
                },
            }
        ],
        "contexts": [
            {
                "name": "store-platform-test",
                "context": {"cluster": "store-platform-test", "user": name},
            }
        ],
        "current-context": "store-platform-test",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


@dataclass
class Component:
    """One control-plane process and its log file."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        """Last lines of the log, for error messages that explain themselves."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class NodeSpec:
    """Shape of one fake node; defaults mirror a small real worker."""

    cpu: str = "4"
    memory: str = "8Gi"
    pods: str = "110"
    labels: dict[str, str] = field(default_factory=dict)


def kill_process_group(pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM a process group, wait up to ``grace`` s, then SIGKILL it.

    Each component is started in its own session, so its pid is its process group id.
    Works for processes that are not our children too (``down`` from another CLI call).
    """
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok on 127.0.0.1.

    Attributes set by ``start()``: ``kubeconfig`` (admin, group system:masters), ``server``
    (https URL), ``version`` (the API server's gitVersion), ``bin_dir``, ``workdir`` (certs,
    kubeconfigs, etcd data, ``logs/<component>.log``), ``startup_seconds``.
    """

    def __init__(
        self,
        bin_dir: Path | None = None,
        *,
        workdir: Path | None = None,
        nodes: int = 2,
        node_spec: NodeSpec | None = None,
        run_provisioner: bool = True,
        keep_workdir: bool = False,
        log_max_bytes: int = LOG_MAX_BYTES,
        quiet: bool = False,
    ) -> None:
        self.bin_dir: Path = bin_dir or Path()
        self._bin_dir_arg = bin_dir
        self._workdir_arg = workdir
        self.workdir: Path = workdir or Path()
        self.node_count = nodes
        self.node_spec = node_spec or NodeSpec()
        self.run_provisioner = run_provisioner
        self.keep_workdir = keep_workdir
        self.log_max_bytes = log_max_bytes
        self.quiet = quiet
        self.kubeconfig: Path = Path()
        self.server: str = ""
        self.version: str = ""
        self.startup_seconds: float = 0.0
        self.timings: dict[str, float] = {}
        self.components: list[Component] = []
        self.node_names: list[str] = []
        self.provisioner: FakeProvisioner | None = None
        self._pki: PKI | None = None
        self._stop_event = threading.Event()
        self._log_thread: threading.Thread | None = None
        self._started = False
        self._created_workdir = False

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- public API ------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start everything and wait until pods can be scheduled; stops again on failure."""
        if self._started:
            return self
        t0 = time.monotonic()
        self._started = True
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        self._say(
            f"control plane {self.version} ready in {self.startup_seconds:.1f}s "
            f"(server {self.server}, workdir {self.workdir}; waits: {self.timings})"
        )
        return self

    def stop(self) -> None:
        """Terminate every process started (reverse order), then remove the workdir."""
        if not self._started:
            return
        self._started = False
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._stop_event.set()
        if self.provisioner is not None:
            self.provisioner.stop()
            self.provisioner = None
        for comp in reversed(self.components):
            if comp.proc is not None and comp.proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(comp.proc.pid, signal.SIGCONT)  # a paused process ignores SIGTERM
                kill_process_group(comp.proc.pid)
            if comp.proc is not None:
                with contextlib.suppress(Exception):
                    comp.proc.wait(timeout=1)
        if self._log_thread is not None:
            self._log_thread.join(timeout=2)
            self._log_thread = None
        if self._created_workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def api_client(self) -> client.ApiClient:
        """A fresh admin ``ApiClient`` (caller closes it)."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def pids(self) -> dict[str, int]:
        """Component name -> pid (also its process group id)."""
        return {c.name: c.pid for c in self.components if c.pid is not None}

    def pause(self, component: str) -> None:
        """SIGSTOP a component (e.g. ``kube-scheduler``, ``kwok``) to simulate an outage."""
        os.killpg(self.pids()[component], signal.SIGSTOP)

    def resume(self, component: str) -> None:
        """SIGCONT a component paused with ``pause``."""
        os.killpg(self.pids()[component], signal.SIGCONT)

    def log_path(self, component: str) -> Path:
        """Where a component logs, e.g. ``log_path("kube-apiserver")``."""
        return self.workdir / "logs" / f"{component}.log"

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the matching kubectl against this cluster (handy in tests and debugging)."""
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            check=check,
        )

    def state(self) -> dict[str, Any]:
        """JSON-able description, used by the CLI's state file."""
        return {
            "server": self.server,
            "version": self.version,
            "kubeconfig": str(self.kubeconfig),
            "workdir": str(self.workdir),
            "bin_dir": str(self.bin_dir),
            "pids": self.pids(),
            "nodes": self.node_names,
            "startup_seconds": round(self.startup_seconds, 2),
            "timings": self.timings,
        }

    # -- startup ---------------------------------------------------------------------------

    def _say(self, msg: str) -> None:
        if not self.quiet:
            print(f"[harness] {msg}", file=sys.stderr, flush=True)

    def _start(self) -> None:
        self.components, self.node_names, self.timings = [], [], {}
        self._created_workdir = False
        if self._bin_dir_arg is None:
            found = find_binaries()
            if found is None:
                raise ControlPlaneError("control plane binaries not built: run tools/k8s/build.sh")
            self.bin_dir = found
        if self._workdir_arg is None:
            sweep_stale_workdirs()
            self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
            self._created_workdir = True
            (self.workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        else:
            self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)

        t_pki = time.monotonic()
        pki = self._pki = PKI(self.workdir / "pki")
        apiserver_port = free_port()
        self.server = f"https://127.0.0.1:{apiserver_port}"
        serving = pki.issue(
            "apiserver",
            "kube-apiserver",
            server_sans=(
                "IP:127.0.0.1",
                "IP:10.96.0.1",
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
            ),
        )
        admin = pki.issue("admin", "store-platform-admin", organizations=("system:masters",))
        kcm = pki.issue("controller-manager", "system:kube-controller-manager")
        sched = pki.issue("scheduler", "system:kube-scheduler")
        # kwok plays every kubelet (node status, leases, pod status, pod deletion): admin is
        # simpler than hand-writing the union of the kubelets' Node-authorizer permissions.
        kwok = pki.issue("kwok", "kwok-controller", organizations=("system:masters",))
        # The API server's identity towards real kubelets (logs, exec, port-forward; realnode.py).
        kubelet_client = pki.issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", organizations=("system:masters",)
        )
        sa = pki.service_account_keys()

        kc = self.workdir / "kubeconfigs"
        kc.mkdir(exist_ok=True)
        self.kubeconfig = write_kubeconfig(self.workdir / "admin.kubeconfig", self.server, pki.ca.cert, admin, "admin")
        kcm_kc = write_kubeconfig(kc / "kcm", self.server, pki.ca.cert, kcm, "kcm")
        sched_kc = write_kubeconfig(kc / "scheduler", self.server, pki.ca.cert, sched, "scheduler")
        kwok_kc = write_kubeconfig(kc / "kwok", self.server, pki.ca.cert, kwok, "kwok")

        self.timings["pki"] = round(time.monotonic() - t_pki, 2)

        etcd_port, etcd_peer = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                # Test data is disposable: skipping fsync makes etcd far faster on CI disks.
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        self._wait("etcd healthy", lambda: self._etcd_healthy(etcd_url), timeout=30)

        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={apiserver_port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={pki.ca.cert}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,ResourceQuota,PodSecurity",
                "--allow-privileged=true",
                # 127.0.0.1 is not a valid Endpoints address; nothing in-cluster calls the
                # API through the kubernetes Service here, so skip its endpoint reconciler.
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                "--profiling=false",
                # A real node (realnode.py) is reached at its InternalIP; kwok nodes have none.
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                f"--kubelet-client-certificate={kubelet_client.cert}",
                f"--kubelet-client-key={kubelet_client.key}",
            ],
        )
        self._wait("kube-apiserver /readyz", self._apiserver_ready, timeout=90)

        common = ["--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false"]
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={kcm_kc}",
                f"--authentication-kubeconfig={kcm_kc}",
                f"--authorization-kubeconfig={kcm_kc}",
                f"--secure-port={free_port()}",
                *common,
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={pki.ca.cert}",
                f"--cluster-signing-cert-file={pki.ca.cert}",
                f"--cluster-signing-key-file={pki.ca.key}",
                "--use-service-account-credentials=true",
                "--controllers=*",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--cluster-name=store-platform-test",
                "--pvclaimbinder-sync-period=5s",
                # Notice new/ready fake nodes (and drop their not-ready taint) within a second.
                "--node-monitor-period=1s",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                f"--kubeconfig={sched_kc}",
                f"--authentication-kubeconfig={sched_kc}",
                f"--authorization-kubeconfig={sched_kc}",
                f"--secure-port={free_port()}",
                *common,
            ],
        )
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={kwok_kc}",
                f"--config={KWOK_CONFIG}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                "--cidr=10.244.0.1/16",
            ],
        )
        self._start_log_watchdog()

        api = self.api_client()
        try:
            self.version = client.VersionApi(api).get_code().git_version
            self._create_nodes(api)
            self._create_storage_class(api)
            if self.run_provisioner:
                self.provisioner = FakeProvisioner(self.kubeconfig)
                self.provisioner.start()
            self._wait("fake nodes Ready", lambda: self._nodes_ready(api), timeout=60)
            self._wait(
                "default/default ServiceAccount",
                lambda: exists(lambda: client.CoreV1Api(api).read_namespaced_service_account("default", "default")),
                timeout=60,
            )
        finally:
            api.close()

    def _spawn(self, name: str, args: list[str]) -> Component:
        log = self.log_path(name)
        comp = Component(name=name, argv=[str(self.bin_dir / name), *args], log=log)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            comp.proc = subprocess.Popen(
                comp.argv,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            os.close(fd)
        self.components.append(comp)
        return comp

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready`` until true; fail fast (with logs) if a component exits."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        last_exc: BaseException | None = None
        while time.monotonic() < deadline:
            for comp in self.components:
                if not comp.alive():
                    code = comp.proc.returncode if comp.proc else None
                    raise ControlPlaneError(
                        f"{comp.name} exited with {code} while waiting for {what}; log {comp.log}:\n{comp.tail()}"
                    )
            try:
                if ready():
                    self.timings[what] = round(time.monotonic() - t0, 2)
                    return
                last_exc = None
            except Exception as exc:
                last_exc = exc
            time.sleep(0.1)
        logs = "\n".join(f"--- {c.name} ---\n{c.tail(15)}" for c in self.components)
        raise ControlPlaneError(f"timed out after {timeout}s waiting for {what} ({last_exc})\n{logs}")

    def _etcd_healthy(self, url: str) -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(json.load(resp).get("health") == "true")

    def _ssl_context(self) -> ssl.SSLContext:
        assert self._pki is not None
        ctx = ssl.create_default_context(cafile=str(self._pki.ca.cert))
        admin = self._pki.dir
        ctx.load_cert_chain(str(admin / "admin.crt"), str(admin / "admin.key"))
        return ctx

    def _apiserver_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.server}/readyz", timeout=3, context=self._ssl_context()) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError:
            return False

    def _create_nodes(self, api: client.ApiClient) -> None:
        core = client.CoreV1Api(api)
        spec = self.node_spec
        resources = {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods}
        for i in range(self.node_count):
            name = f"kwok-node-{i}"
            labels = {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/worker": "",
                **spec.labels,
            }
            node = client.V1Node(
                metadata=client.V1ObjectMeta(
                    name=name,
                    labels=labels,
                    annotations={KWOK_NODE_ANNOTATION: "fake"},
                ),
                spec=client.V1NodeSpec(),
                status=client.V1NodeStatus(capacity=resources, allocatable=dict(resources)),
            )
            with contextlib.suppress(ApiException):
                core.create_node(node)
            self.node_names.append(name)

    def _create_storage_class(self, api: client.ApiClient) -> None:
        sc = client.V1StorageClass(
            metadata=client.V1ObjectMeta(
                name=DEFAULT_STORAGE_CLASS,
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            provisioner=PROVISIONER,
            reclaim_policy="Delete",
            volume_binding_mode="Immediate",
            allow_volume_expansion=True,
        )
        with contextlib.suppress(ApiException):
            client.StorageV1Api(api).create_storage_class(sc)

    def _nodes_ready(self, api: client.ApiClient) -> bool:
        """Ready=True and no taints (the node lifecycle controller's not-ready taint is gone)."""
        core = client.CoreV1Api(api)
        for name in self.node_names:
            node: Any = core.read_node(name)
            conds = {c.type: c.status for c in (node.status.conditions or [])}
            if conds.get("Ready") != "True" or node.spec.taints:
                return False
        return True

    # -- bounded logs ----------------------------------------------------------------------

    def _start_log_watchdog(self) -> None:
        self._stop_event.clear()
        self._log_thread = threading.Thread(target=self._log_watchdog, name="controlplane-logs", daemon=True)
        self._log_thread.start()

    def _log_watchdog(self) -> None:
        """Keep each log under ``log_max_bytes``: move it to ``.1`` and truncate in place.

        Components write with O_APPEND, so truncating the shared file is safe and needs no
        cooperation (and no pipe a paused test could fill up and block the API server on).
        """
        while not self._stop_event.wait(2.0):
            for comp in self.components:
                truncate_if_large(comp.log, self.log_max_bytes)


def sweep_stale_workdirs(min_age: float = 60.0) -> None:
    """Remove temp workdirs left by control planes whose owner process is gone.

    A SIGKILLed pytest cannot run ``stop()``; its components die with it (PDEATHSIG) but the
    workdir (etcd data, certs, logs) would pile up in /tmp over many CI runs.
    """
    for path in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        try:
            if time.time() - path.stat().st_mtime < min_age:
                continue
            owner = int((path / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
            continue  # owner alive (maybe another session's cluster)
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(path, ignore_errors=True)


def truncate_if_large(log: Path, max_bytes: int) -> None:
    """Rotate ``log`` to ``log.1`` (one generation) once it exceeds ``max_bytes``."""
    try:
        if log.stat().st_size <= max_bytes:
            return
        shutil.copyfile(log, log.with_name(log.name + ".1"))
        os.truncate(log, 0)
    except OSError:
        pass


@contextlib.contextmanager
def control_plane(**kwargs: Any) -> Iterator[ControlPlane]:
    """Functional form of ``with ControlPlane(**kwargs) as cp``."""
    cp = ControlPlane(**kwargs)
    try:
        yield cp.start()
    finally:
        cp.stop()
