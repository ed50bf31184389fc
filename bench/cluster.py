"""Benchmarks on the real control plane (tests/harness): apply baselines, provisioning, steady state.

Everything goes through the product's own objects: `Platform.build` (DB, services),
`StoreService.create_store` (the request), `Reconciler.run_forever` (the work), and
`KubeCluster.connect` (the client). The only addition is `TracingKubeCluster`, which records
each API request by verb and resource and the time it took, so the numbers can say what
the requests were, not only how many.
"""

from __future__ import annotations

import contextlib
import cProfile
import math
import os
import pstats
import random
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

from bench.profiling import InlineExecutor, write_report
from bench.stats import percentile, summary
from provisioning.db import make_engine, migrate
from provisioning.engines import get_engine
from provisioning.engines.base import Manifest, StoreSpec
from provisioning.kube import API_VERSION_OF_KIND, RESOURCES, KubeCluster
from provisioning.models import Role, Store, StoreStatus, new_id
from provisioning.names import namespace_for
from provisioning.platform import Platform
from provisioning.reconciler import APPLY_PARALLELISM, POD_CREATING_KINDS, Reconciler
from provisioning.settings import Settings
from tests.harness.controlplane import ControlPlane, NodeSpec

# kwok nodes big enough for the largest run: 100 stores x (2 long-running pods + 1 Job pod),
# 250m CPU and 640Mi of requests per store. Two default nodes (4 CPU, 110 pods each) would
# leave most of 100 stores Pending, which would measure the scheduler saying no.
NODES = 2
NODE_SPEC = NodeSpec(cpu="64", memory="256Gi", pods="250")
PODS_PER_STORE = 3
CPU_PER_STORE, GIB_PER_STORE = 0.25, 0.625  # a store's requests (woocommerce, the default plan)


def node_spec_for(stores: int, *, nodes: int = NODES) -> NodeSpec:
    """kwok nodes that hold `stores` stores with a fifth to spare (never smaller than NODE_SPEC)."""
    share = 1.2 * stores / nodes
    return NodeSpec(
        cpu=str(max(int(NODE_SPEC.cpu), math.ceil(share * CPU_PER_STORE))),
        memory=f"{max(256, math.ceil(share * GIB_PER_STORE))}Gi",
        pods=str(max(int(NODE_SPEC.pods), math.ceil(share * PODS_PER_STORE))),
    )


ENGINE = "woocommerce"


class BenchError(RuntimeError):
    """A benchmark could not produce a number (a store failed, a baseline was refused...)."""


# -- the cluster under test -------------------------------------------------------------------


@dataclass
class ClusterHandle:
    kubeconfig: Path
    bin_dir: Path
    version: str
    nodes: int
    node_spec: NodeSpec
    namespaces: list[str] = field(default_factory=list)  # created here; deleted on shared clusters

    @property
    def pod_capacity(self) -> int:
        return self.nodes * int(self.node_spec.pods)


ClusterProvider = Callable[[str], AbstractContextManager[ClusterHandle]]


def fresh_clusters(bin_dir: Path, *, nodes: int = NODES, node_spec: NodeSpec = NODE_SPEC) -> ClusterProvider:
    """A new control plane per phase: no leftover namespaces, pods or controller backlog."""

    @contextlib.contextmanager
    def provider(phase: str) -> Iterator[ClusterHandle]:
        plane = ControlPlane(bin_dir, nodes=nodes, node_spec=node_spec, quiet=True)
        started = time.monotonic()
        plane.start()
        _say(f"[{phase}] control plane {plane.version} up in {time.monotonic() - started:.1f}s")
        try:
            yield ClusterHandle(plane.kubeconfig, plane.bin_dir, plane.version, nodes, node_spec)
        finally:
            plane.stop()

    return provider


def shared_cluster(plane: ControlPlane) -> ClusterProvider:
    """Every phase on one running control plane (the smoke test's); bench namespaces deleted after each."""

    @contextlib.contextmanager
    def provider(phase: str) -> Iterator[ClusterHandle]:
        handle = ClusterHandle(plane.kubeconfig, plane.bin_dir, plane.version, plane.node_count, plane.node_spec)
        try:
            yield handle
        finally:
            delete_namespaces(handle)

    return provider


def delete_namespaces(handle: ClusterHandle) -> None:
    """Delete (without waiting) every namespace the benchmarks created on this cluster."""
    if not handle.namespaces:
        return
    kube = connect(handle, Settings.from_env({}))
    try:
        for name in handle.namespaces:
            with contextlib.suppress(Exception):
                kube.delete("v1", "Namespace", name)
    finally:
        kube.api.close()
    handle.namespaces.clear()


# -- a client that says what it did ------------------------------------------------------------


def request_label(method: str, path: str) -> str:
    """'PATCH statefulsets/<name>', 'GET events' (a list), 'GET /version'."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[0] == "api":
        rest = parts[2:]
    elif parts[0] == "apis":
        rest = parts[3:]
    else:
        return f"{method} /{'/'.join(parts)}"
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    if not rest:
        return f"{method} /{'/'.join(parts)}"
    return f"{method} {rest[0]}{'/<name>' if len(rest) > 1 else ''}"


@dataclass
class Trace:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def since(self, before: Trace) -> Trace:
        return Trace(
            {k: v - before.counts.get(k, 0) for k, v in self.counts.items() if v - before.counts.get(k, 0)},
            {k: v - before.seconds.get(k, 0.0) for k, v in self.seconds.items() if k in self.counts},
        )

    def per(self, divisor: float) -> dict[str, dict[str, float]]:
        """Requests per `divisor` (e.g. per store) and mean client-side ms per request, by label."""
        return {
            label: {
                "requests": round(count / divisor, 2),
                "mean_ms": round(1000 * self.seconds.get(label, 0.0) / count, 1),
            }
            for label, count in sorted(self.counts.items(), key=lambda kv: -kv[1])
        }


class TracingKubeCluster(KubeCluster):
    """KubeCluster that also records each request's verb, resource and duration."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trace = Trace()
        self._trace_lock = threading.Lock()

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return super()._request(method, path, **kwargs)
        finally:
            label = request_label(method, path)
            spent = time.perf_counter() - started
            with self._trace_lock:
                self._trace.counts[label] = self._trace.counts.get(label, 0) + 1
                self._trace.seconds[label] = self._trace.seconds.get(label, 0.0) + spent

    def open_watch(self, api_version: str, kind: str, query: dict[str, str], *, read_timeout: float) -> Any:
        """A watch is one request however long it streams: counted when opened."""
        with self._trace_lock:
            label = f"WATCH {RESOURCES[(api_version, kind)][0]}"
            self._trace.counts[label] = self._trace.counts.get(label, 0) + 1
        return super().open_watch(api_version, kind, query, read_timeout=read_timeout)

    def snapshot(self) -> Trace:
        with self._trace_lock:
            return Trace(dict(self._trace.counts), dict(self._trace.seconds))


_ENV_LOCK = threading.Lock()


def connect(handle: ClusterHandle, settings: Settings) -> TracingKubeCluster:
    """The product's KubeCluster.connect (kubeconfig from KUBECONFIG), pointed at this cluster."""
    with _ENV_LOCK:
        saved = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = str(handle.kubeconfig)
        try:
            kube = TracingKubeCluster.connect(settings)
        finally:
            if saved is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = saved
    assert isinstance(kube, TracingKubeCluster)
    return kube


def bench_settings(workdir: Path, db_name: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{workdir / db_name}.db",
        "admin_password": "bench-admin-password",
        "cookie_key": "bench-cookie-key-0123456789abcdef0123",
        "local_secrets_file": str(workdir / "secrets.env"),
        "run_reconciler": False,
        "max_stores_per_user": 100_000,
        "max_creates_per_hour": 100_000,
        "provisioning_timeout_seconds": 600,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


# -- 1a. applying one store's objects: ours vs the floor vs kubectl ----------------------------


def bench_spec(name: str) -> StoreSpec:
    store_id = new_id()
    return StoreSpec(
        id=store_id,
        name=name,
        namespace=namespace_for(name, store_id),
        owner="bench",
        engine=ENGINE,
        admin_user=f"{name}-admin",
        admin_email=f"{name}-admin@{name}.invalid",
    )


def rendered(spec: StoreSpec, settings: Settings) -> list[Manifest]:
    """Every object of a store, in the order the reconciler applies them (Secret after the Namespace)."""
    engine = get_engine(spec.engine)
    workloads = engine.workloads(spec, settings)
    return [workloads[0], engine.secret(spec, engine.generate_secrets(spec)), *workloads[1:]]


def kubectl(handle: ClusterHandle, cache_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl as a person runs it: KUBECONFIG in the environment, discovery cached on disk."""
    env = dict(os.environ, KUBECONFIG=str(handle.kubeconfig))
    command = [str(handle.bin_dir / "kubectl"), "--cache-dir", str(cache_dir), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


KUBECTL_MODES = {
    "kubectl_csa": ("apply", "-f"),
    "kubectl_ssa": ("apply", "--server-side", "--field-manager=kubectl-bench", "-f"),
}


def count_kubectl_requests(stderr: str) -> int:
    """Requests in `kubectl -v=6` output: one 'Response' line per HTTP round trip."""
    return sum(1 for line in stderr.splitlines() if "round_trippers" in line and "Response" in line)


def missing_objects(kube: KubeCluster, manifests: list[Manifest]) -> list[str]:
    missing = []
    for manifest in manifests:
        meta = manifest["metadata"]
        kind = manifest["kind"]
        if kube.get(API_VERSION_OF_KIND[kind], kind, meta["name"], namespace=meta.get("namespace")) is None:
            missing.append(f"{kind}/{meta['name']}")
    return missing


def apply_comparison(handle: ClusterHandle, workdir: Path, *, stores: int) -> dict[str, Any]:
    """Per store, time to apply the same objects five ways, interleaved so load hits all alike.

    Each round applies one store per method, in a shuffled order (a fixed order would give
    each method the same predecessor, whose pods the controllers are still creating).

    - ours: `Reconciler._apply_all` (render manifests, generate the Secret, GET + create it,
      server-side apply the rest), the exact code the reconciler runs once per attempt;
    - floor: the same objects, pre-rendered, through `KubeCluster.apply` in a plain loop
      (the issue's floor: only the server-side apply calls, sequentially);
    - floor_parallel: the same pre-rendered applies in the reconciler's dependency waves, on
      a bare thread pool of the same size: the floor for a parallel apply, i.e. what ours
      costs beyond the API calls themselves;
    - kubectl_ssa: `kubectl apply --server-side -f store.yaml`, one process per store;
    - kubectl_csa: `kubectl apply -f store.yaml` (client-side), one process per store.
    """
    settings = bench_settings(workdir, "apply")
    kube = connect(handle, settings)
    db = make_engine(settings.database_url)
    migrate(db)
    reconciler = Reconciler(db, settings, lambda: kube, identity="bench-apply")
    reconciler.cluster = kube
    cache_dir = Path(tempfile.mkdtemp(prefix="kubectl-cache-", dir=workdir))
    yaml_dir = workdir / "apply-yaml"
    yaml_dir.mkdir(exist_ok=True)
    methods = ["ours", "floor", "floor_parallel", "kubectl_ssa", "kubectl_csa"]
    pool = ThreadPoolExecutor(max_workers=APPLY_PARALLELISM)

    def prepare(method: str, suffix: str) -> Callable[[], None]:
        spec = bench_spec(f"{method.replace('_', '-')}-{suffix}")
        handle.namespaces.append(spec.namespace)
        if method == "ours":
            return lambda: reconciler._apply_all(spec, retry=False)
        manifests = rendered(spec, settings)
        if method == "floor":

            def floor() -> None:
                for manifest in manifests:
                    kube.apply(manifest)

            return floor
        if method == "floor_parallel":
            return lambda: apply_in_waves(kube, pool, manifests)
        path = yaml_dir / f"{spec.namespace}.yaml"
        path.write_text(yaml.safe_dump_all(manifests, sort_keys=False))

        def by_hand() -> None:
            kubectl(handle, cache_dir, *KUBECTL_MODES[method], str(path))

        return by_hand

    try:
        # Warm-up, untimed: connections, kubectl's discovery cache, the API server's first
        # apply of each kind. Then check that each method created every object of a store.
        objects = rendered(bench_spec("check"), settings)
        for method in methods:
            prepare(method, "warm")()
        for namespace, method in zip(handle.namespaces[-len(methods) :], methods, strict=True):
            spec_objects = [_in_namespace(m, namespace) for m in objects]
            missing = missing_objects(kube, spec_objects)
            if missing:
                raise BenchError(f"{method} did not create {', '.join(missing)} in {namespace}")

        # Requests per store for kubectl, from its own -v=6 log (one more untimed store each).
        kubectl_requests = {}
        for method in ("kubectl_ssa", "kubectl_csa"):
            spec = bench_spec(f"{method.replace('_', '-')}-counted")
            handle.namespaces.append(spec.namespace)
            path = yaml_dir / f"{spec.namespace}.yaml"
            path.write_text(yaml.safe_dump_all(rendered(spec, settings), sort_keys=False))
            done = kubectl(handle, cache_dir, "-v=6", *KUBECTL_MODES[method], str(path))
            kubectl_requests[method] = count_kubectl_requests(done.stderr)

        starts = []
        for _ in range(3):
            started = time.perf_counter()
            kubectl(handle, cache_dir, "version", "--client", "-o", "json")
            starts.append(1000 * (time.perf_counter() - started))

        durations: dict[str, list[float]] = {m: [] for m in methods}
        requests: dict[str, int] = {"ours": 0, "floor": 0, "floor_parallel": 0}
        shuffler = random.Random(7)  # a new order per round, the same in every run
        for index in range(stores):
            order = list(methods)
            shuffler.shuffle(order)
            for method in order:
                action = prepare(method, str(index))
                before = kube.snapshot()
                started = time.perf_counter()
                action()
                durations[method].append(1000 * (time.perf_counter() - started))
                if method in requests:
                    requests[method] += kube.snapshot().since(before).total
    finally:
        pool.shutdown()
        kube.api.close()
        db.dispose()

    p50 = {m: percentile(v, 50) for m, v in durations.items()}

    def paired(slow: str, fast: str) -> float:
        """Median of per-round ratios: each pair ran seconds apart, so load drifts cancel out."""
        return round(percentile([s / f for s, f in zip(durations[slow], durations[fast], strict=True)], 50), 3)

    return {
        "stores_per_method": stores,
        "objects_per_store": len(objects),
        "ms_per_store": {m: summary(v) for m, v in durations.items()},
        "requests_per_store": {
            "ours": round(requests["ours"] / stores, 1),
            "floor": round(requests["floor"] / stores, 1),
            "floor_parallel": round(requests["floor_parallel"] / stores, 1),
            **kubectl_requests,
        },
        "kubectl_process_start_ms": round(percentile(starts, 50), 1),
        "apply_vs_floor_ratio": round(p50["ours"] / p50["floor"], 3),
        "apply_vs_floor_ratio_paired_median": paired("ours", "floor"),
        "apply_vs_parallel_floor_ratio": round(p50["ours"] / p50["floor_parallel"], 3),
        "kubectl_vs_ours_speedup": round(p50["kubectl_csa"] / p50["ours"], 2),
        "kubectl_ssa_vs_ours_speedup": round(p50["kubectl_ssa"] / p50["ours"], 2),
        "kubectl_vs_ours_speedup_paired_median": paired("kubectl_csa", "ours"),
        "kubectl_ssa_vs_ours_speedup_paired_median": paired("kubectl_ssa", "ours"),
    }


def apply_in_waves(kube: Any, pool: ThreadPoolExecutor, manifests: list[Manifest]) -> None:
    """The reconciler's dependency waves on a bare pool: the Namespace, then every object
    pods depend on, then the pod-creating kinds, each wave in parallel."""
    kube.apply(manifests[0])
    for wave in (
        [m for m in manifests[1:] if m["kind"] not in POD_CREATING_KINDS],
        [m for m in manifests[1:] if m["kind"] in POD_CREATING_KINDS],
    ):
        list(pool.map(kube.apply, wave))


def _in_namespace(manifest: Manifest, namespace: str) -> Manifest:
    meta = dict(manifest["metadata"])
    if manifest["kind"] == "Namespace":
        meta["name"] = namespace
    else:
        meta["namespace"] = namespace
    return {**manifest, "metadata": meta}


# -- 1b. N stores through the service and the reconciler ---------------------------------------


@dataclass
class Provisioned:
    """A run's platform, left running for the steady-state and profile phases."""

    platform: Platform
    kube: TracingKubeCluster
    settings: Settings
    store_ids: list[str]
    actor_username: str = "bench"

    def close(self) -> None:
        self.kube.api.close()
        self.platform.db.dispose()


def store_rows(platform: Platform, ids: list[str]) -> list[Store]:
    with Session(platform.db) as session:
        return list(session.exec(select(Store).where(col(Store.id).in_(ids))).all())


def provision(
    handle: ClusterHandle,
    workdir: Path,
    *,
    stores: int,
    interval: float,
    concurrency: int,
    timeout: float | None = None,
) -> tuple[dict[str, Any], Provisioned]:
    """Order `stores` stores at once through the service; the reconciler (already running) does the rest."""
    if stores * PODS_PER_STORE > handle.pod_capacity:
        raise BenchError(
            f"{stores} stores need {stores * PODS_PER_STORE} pods; the nodes hold {handle.pod_capacity}. "
            "Start the control plane with more or bigger nodes (bench.cluster.NODES / NODE_SPEC)."
        )
    tag = uuid.uuid4().hex[:4]
    settings = bench_settings(
        workdir,
        f"provision-{stores}-{tag}",
        reconcile_interval_seconds=interval,
        max_concurrent_provisioning=concurrency,
    )
    kube = connect(handle, settings)
    platform = Platform.build(settings, secrets=kube)
    admin = platform.users.get_actor(settings.admin_username)
    platform.users.create_user(admin, "bench", "bench-user-password", role=Role.USER)
    actor = platform.users.get_actor("bench")

    reconciler = Reconciler(platform.db, settings, lambda: kube, identity=f"bench-provision-{tag}")
    applied: dict[str, tuple[float, float]] = {}  # store id -> (apply seconds, wall clock at the end)
    apply_all = reconciler._apply_all

    def timed_apply_all(spec: StoreSpec, *, retry: bool, secrets_from: str = "") -> None:
        started = time.perf_counter()
        apply_all(spec, retry=retry, secrets_from=secrets_from)
        applied[spec.id] = (time.perf_counter() - started, time.time())

    reconciler._apply_all = timed_apply_all  # type: ignore[method-assign]
    passes: list[float] = []
    first_pass = threading.Event()
    run_once = reconciler.run_once

    def timed_run_once() -> bool:
        started = time.perf_counter()
        try:
            return run_once()
        finally:
            passes.append(time.perf_counter() - started)
            first_pass.set()

    reconciler.run_once = timed_run_once  # type: ignore[method-assign]
    stop = threading.Event()
    worker = threading.Thread(target=reconciler.run_forever, args=(stop,), name="bench-reconciler", daemon=True)
    worker.start()
    first_pass.wait(60)  # measure a reconciler that is already running, as in production
    passes.clear()
    before = kube.snapshot()
    ids: list[str] = []
    try:
        for index in range(stores):
            store = platform.stores.create_store(actor, f"shop-{tag}-{index}")
            ids.append(store.id)
            handle.namespaces.append(store.namespace)
        timeout = timeout or max(900.0, 4.0 * stores)  # 1,000 stores on 2 cores: about 40 min (API server CPU-bound)
        deadline = time.monotonic() + timeout
        while True:
            rows = store_rows(platform, ids)
            failed = [r for r in rows if r.status == StoreStatus.FAILED]
            if failed:
                raise BenchError(f"store {failed[0].name} failed: {failed[0].message}")
            if all(r.status == StoreStatus.READY for r in rows):
                break
            if time.monotonic() > deadline:
                waiting = [r for r in rows if r.status != StoreStatus.READY]
                raise BenchError(f"{len(waiting)} stores not ready after {timeout:.0f}s; e.g. {waiting[0].message}")
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=120)
    trace = kube.snapshot().since(before)

    created = {r.id: r.created_at.timestamp() for r in rows}
    accepted_s = [applied[i][1] - created[i] for i in ids]
    ready_s = [r.ready_at.timestamp() - created[r.id] for r in rows if r.ready_at]
    queued_s = [r.provisioning_started_at.timestamp() - created[r.id] for r in rows if r.provisioning_started_at]
    first_request = min(created.values())
    total_accepted = max(applied[i][1] for i in ids) - first_request
    total_ready = max(r.ready_at.timestamp() for r in rows if r.ready_at) - first_request
    result = {
        "stores": stores,
        "max_concurrent_provisioning": concurrency,
        "reconcile_interval_seconds": interval,
        "total_to_accepted_s": round(total_accepted, 2),
        "total_to_ready_s": round(total_ready, 2),
        "stores_per_minute": round(60 * stores / total_ready, 1),
        "stores_per_minute_accepted": round(60 * stores / total_accepted, 1),
        "time_to_accepted_s": summary(accepted_s, digits=2),
        "time_to_ready_s": summary(ready_s, digits=2),
        "queued_s": summary(queued_s, digits=2),
        "apply_ms": summary([1000 * applied[i][0] for i in ids]),
        "requests_per_store": round(trace.total / stores, 1),
        "requests_by_kind_per_store": trace.per(stores),
        "reconciler_passes": len(passes),
        "pass_s": summary(passes, digits=3),
    }
    return result, Provisioned(platform, kube, settings, ids)


# -- profile: one store, request to ready --------------------------------------------------


def profile_one_store(world: Provisioned, out_dir: Path, *, timeout: float = 120) -> dict[str, Any]:
    """cProfile of every reconciler pass that provisions one store, run in this thread.

    Two reports: the apply alone (`_apply_all`), and every pass from request to ready.
    """
    reconciler = Reconciler(world.platform.db, world.settings, lambda: world.kube, identity="bench-profile")
    # cProfile sees one thread only: run the store steps and their applies here, one by one.
    for pool in ("_pool", "_apply_pool"):
        getattr(reconciler, pool).shutdown()
        setattr(reconciler, pool, InlineExecutor())
    apply_profiler, pass_profiler = cProfile.Profile(), cProfile.Profile()
    apply_all = reconciler._apply_all
    apply_ms: list[float] = []

    def profiled_apply_all(spec: StoreSpec, *, retry: bool, secrets_from: str = "") -> None:
        pass_profiler.disable()
        apply_profiler.enable()
        started = time.perf_counter()
        try:
            apply_all(spec, retry=retry, secrets_from=secrets_from)
        finally:
            apply_ms.append(1000 * (time.perf_counter() - started))
            apply_profiler.disable()
            pass_profiler.enable()

    reconciler._apply_all = profiled_apply_all  # type: ignore[method-assign]
    actor = world.platform.users.get_actor(world.actor_username)
    store = world.platform.stores.create_store(actor, f"profile-{uuid.uuid4().hex[:4]}")
    world.store_ids.append(store.id)
    before = world.kube.snapshot()
    passes, in_passes = 0, 0.0
    deadline = time.monotonic() + timeout
    while True:
        started = time.perf_counter()
        pass_profiler.enable()
        try:
            reconciler.run_once()
        finally:
            pass_profiler.disable()
        in_passes += time.perf_counter() - started
        passes += 1
        row = store_rows(world.platform, [store.id])[0]
        if row.status == StoreStatus.READY:
            break
        if row.status == StoreStatus.FAILED or time.monotonic() > deadline:
            raise BenchError(f"profiled store did not become ready: {row.message}")
        time.sleep(world.settings.reconcile_interval_seconds)
    trace = world.kube.snapshot().since(before)
    stats = pstats.Stats(pass_profiler)
    stats.add(apply_profiler)
    provision_categories = write_report(
        stats,
        out_dir / "profile_provision_one_store.txt",
        title=f"Provisioning one store: {passes} reconciler passes, request to ready "
        f"({1000 * in_passes:.0f} ms inside passes, {trace.total} API requests)",
    )
    apply_categories = write_report(
        pstats.Stats(apply_profiler),
        out_dir / "profile_apply_one_store.txt",
        title=f"Applying one store's objects (Reconciler._apply_all): {apply_ms[0]:.0f} ms",
    )
    return {
        "passes": passes,
        "ms_inside_passes": round(1000 * in_passes, 1),
        "apply_ms": round(apply_ms[0], 1),
        "requests": trace.total,
        "request_ms_by_kind": {k: v["mean_ms"] for k, v in trace.per(1).items()},
        "apply_by_category_ms": apply_categories,
        "provision_by_category_ms": provision_categories,
        "reports": [str(out_dir / "profile_apply_one_store.txt"), str(out_dir / "profile_provision_one_store.txt")],
    }


def _say(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


say = _say
