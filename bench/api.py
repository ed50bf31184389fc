"""REST API throughput and latency on the real portal process (SQLite), by credential kind.

16 concurrent clients (threads) call `GET /api/stores` for a fixed time, first with a
personal API token (Bearer), then with HTTP Basic; each call on a new connection, as a
script running curl does (`--api-keepalive`: one connection per client, as an SDK holds).
Meanwhile a probe calls `/api/health` every 100 ms, so the report shows what the load
does to everyone else's latency. Basic pays bcrypt (cost
12) and a sign-in audit row per call by design; a token pays one digest lookup.

Keep-alive connections to the portal pay about 40 ms per answer on top: Streamlit binds
its listening socket without IPPROTO_TCP, so asyncio does not set TCP_NODELAY on accepted
connections, and the answer's second write waits for the client's delayed ACK.
"""

from __future__ import annotations

import base64
import http.client
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.stats import summary
from provisioning.platform import Platform
from provisioning.settings import Settings

USER, PASSWORD = "bench-api", "bench-api-password"
ADMIN_PASSWORD = "bench-admin-password"
STORES = 5  # the user's stores, so each answer carries real rows
HEALTH_INTERVAL_S = 0.1


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'portal.db'}",
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "COOKIE_KEY": "bench-cookie-key-0123456789abcdef01234",
            "LOCAL_SECRETS_FILE": str(workdir / "secrets.env"),
            "KUBECONFIG": str(workdir / "no-kubeconfig"),  # never the developer's cluster
            "RUN_RECONCILER": "false",
        }
    )
    return env


def _seed(env: dict[str, str]) -> str:
    """The bench user with a few stores and a token; returns the token."""
    platform = Platform.build(Settings.from_env(env))
    try:
        admin = platform.users.get_actor("admin")
        platform.users.create_user(admin, USER, PASSWORD)
        actor = platform.users.get_actor(USER)
        for i in range(STORES):
            platform.stores.create_store(actor, f"api-bench-{i}")
        return platform.tokens.create_token(actor, "bench").token
    finally:
        platform.db.dispose()


class _Client:
    """A new connection per call, or one kept alive (reconnecting after an error)."""

    def __init__(self, url: str, *, keepalive: bool = False) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.keepalive = keepalive
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, float]:
        started = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.conn.request("GET", path, headers=headers)
            response = self.conn.getresponse()
            response.read()
            status = response.status
            if not self.keepalive:
                self.conn.close()
                self.conn = None
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            status = 0
        return status, (time.perf_counter() - started) * 1000


def _load(url: str, headers: dict[str, str], *, clients: int, seconds: float, keepalive: bool) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    deadline = time.monotonic() + seconds
    start = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        client = _Client(url, keepalive=keepalive)
        start.wait()
        while time.monotonic() < deadline:
            status, ms = client.get("/api/stores", headers)
            if status == 200:
                latencies[i].append(ms)
            else:
                failures[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join(seconds + 60)
    elapsed = time.monotonic() - began
    done = [ms for per_client in latencies for ms in per_client]
    stats = summary(done)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(done),
        "errors": sum(failures),
        "requests_per_s": round(len(done) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": stats.get("p50"),
        "p95_ms": stats.get("p95"),
        "latency_ms": stats,
    }


class _HealthProbe:
    def __init__(self, url: str) -> None:
        self.client = _Client(url)
        self.samples: dict[str, list[float]] = {}
        self.phase = "idle"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            status, ms = self.client.get("/api/health", {})
            self.samples.setdefault(self.phase, []).append(ms if status == 200 else float("inf"))
            self.stop.wait(HEALTH_INTERVAL_S)

    def __enter__(self) -> _HealthProbe:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def measure(
    workdir: Path,
    *,
    seconds: float = 20.0,
    clients: int = 16,
    keepalive: bool = False,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start the portal, load it with tokens then with Basic; return the numbers."""
    from tests.shared.servers import run_portal  # the one way the repo starts the portal process

    workdir.mkdir(parents=True, exist_ok=True)
    env = _env(workdir)
    token = _seed(env)
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    modes = {"token": {"Authorization": f"Bearer {token}"}, "basic": {"Authorization": f"Basic {basic}"}}
    results: dict[str, Any] = {}
    with run_portal(env, workdir / "portal.log") as url, _HealthProbe(url) as probe:
        _Client(url).get("/api/stores", modes["token"])  # warm up: first request builds the platform
        time.sleep(1)
        for mode, headers in modes.items():
            probe.phase = mode
            result = _load(url, headers, clients=clients, seconds=seconds, keepalive=keepalive)
            result["health_p95_ms"] = summary(probe.samples.get(mode, [])).get("p95")
            results[mode] = result
            say(
                f"api: {mode:5} {result['requests_per_s']:8.1f} req/s  p50 {result['p50_ms']} ms  "
                f"p95 {result['p95_ms']} ms  errors {result['errors']}  (/api/health p95 {result['health_p95_ms']} ms)"
            )
        probe.phase = "idle"
    everything = [ms for samples in probe.samples.values() for ms in samples]
    results["health"] = {"latency_ms": summary(everything), "p95_ms": summary(everything).get("p95")}
    results["stores_per_answer"] = STORES
    results["connections"] = "keep-alive" if keepalive else "new per call"
    return results


def headline(api: dict[str, Any]) -> dict[str, Any]:
    """The top-level keys of latest.json for this phase."""
    flat: dict[str, Any] = {}
    for mode in ("token", "basic"):
        if mode in api:
            flat[f"api_{mode}_requests_per_s"] = api[mode]["requests_per_s"]
            flat[f"api_{mode}_p50_ms"] = api[mode]["p50_ms"]
            flat[f"api_{mode}_p95_ms"] = api[mode]["p95_ms"]
            flat[f"api_{mode}_errors"] = api[mode]["errors"]
    if "health" in api:
        flat["api_health_p95_ms"] = api["health"]["p95_ms"]
    return flat
