"""Server-side render time of My stores and Admin with many stores, through AppTest.

Stores are bulk-inserted (the service's per-user limits would refuse 1,000 stores for
one user; the page does not care how they got there), with three audit events each, as
the real lifecycle writes (create, provisioning, ready). Each page is rendered a few
times; the median is reported with the number of SQL statements per render.

Two numbers per page:

- `*_render_ms_N`: AppTest sharing one compiled-script cache across runs, as the Streamlit
  server does (it compiles each script once per process, not once per refresh);
- `*_render_ms_apptest_N`: plain AppTest, which also recompiles app.py and the page on
  every run (AppTest builds a new ScriptCache per run; ~15-40 ms the server never spends).
"""

from __future__ import annotations

import contextlib
import cProfile
import logging
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.profiling import profile_script_runs, write_report
from bench.querycount import count_queries
from bench.stats import summary
from provisioning.models import AuditEvent, ClusterStatus, Role, Store, StoreStatus, new_id, utcnow
from provisioning.platform import Platform
from provisioning.settings import Settings

APP = str(Path(__file__).resolve().parents[1] / "app.py")
STATUSES = [StoreStatus.READY] * 6 + [
    StoreStatus.PROVISIONING,
    StoreStatus.FAILED,
    StoreStatus.REQUESTED,
    StoreStatus.DELETED,
]
BATCH = 2000
MESSAGES = {StoreStatus.READY: "Ready: open http://example"}


def seed(platform: Platform, owner: str, owner_id: int, count: int, *, prefix: str) -> None:
    now = utcnow()
    rows, events = [], []
    for i in range(count):
        store_id = new_id()
        status = STATUSES[i % len(STATUSES)]
        created = now - timedelta(minutes=i)
        name = f"{prefix}{i}"
        ready_at = created + timedelta(seconds=90 + i % 60) if status == StoreStatus.READY else None
        rows.append(
            {
                "id": store_id,
                "name": name,
                "active_name": None if status == StoreStatus.DELETED else name,
                "engine": "woocommerce",
                "owner_id": owner_id,
                "namespace": f"store-{name}-{store_id[:8]}",
                "status": status,
                "message": MESSAGES.get(status, "Working: Database: 0/1 ready."),
                "health": "working",
                "conditions": [],
                "url": f"http://{name}.stores.localhost",
                "admin_user": f"{name}-admin",
                "attempts": 0,
                "created_at": created,
                "updated_at": created,
                "provisioning_started_at": created,
                "ready_at": ready_at,
            }
        )
        lifecycle = [(created, owner, "store.create", ""), (created, "system", "store.provisioning", "")]
        if ready_at:
            lifecycle.append((ready_at, "system", "store.ready", f"ready in {(ready_at - created).seconds}s"))
        events += [
            {"at": at, "actor": actor, "action": action, "store_id": store_id, "store_name": name, "detail": detail}
            for at, actor, action, detail in lifecycle
        ]
    with platform.db.begin() as conn:
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(Store), rows[start : start + BATCH])
        for start in range(0, len(events), BATCH):
            conn.execute(insert(AuditEvent), events[start : start + BATCH])


def seed_cluster_status(platform: Platform) -> None:
    """A reachable cluster, as the reconciler records it: the banner everyone normally sees."""
    with platform.db.begin() as conn:
        conn.execute(
            insert(ClusterStatus),
            [{"id": 1, "reachable": True, "context": "bench", "server": "https://127.0.0.1:6443", "version": "v1"}],
        )


@contextlib.contextmanager
def server_script_cache() -> Iterator[None]:
    """Make every AppTest run share one ScriptCache, as the server's Runtime does."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = ScriptCache()
    saved = (app_test.ScriptCache, local_script_runner.ScriptCache)
    app_test.ScriptCache = lambda: shared  # type: ignore[assignment,misc]
    local_script_runner.ScriptCache = lambda: shared  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        app_test.ScriptCache, local_script_runner.ScriptCache = saved  # type: ignore[misc]


def _render(
    page: str, username: str, platform: Platform, runs: int, *, profiler: cProfile.Profile | None = None
) -> dict[str, Any]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["actor"] = platform.users.get_actor(username)
    at.run()
    at.switch_page(page)
    at.run()  # warm: imports, caches
    assert not at.exception, at.exception
    timings, queries = [], []
    with profile_script_runs(profiler) if profiler else contextlib.nullcontext():
        for _ in range(runs):
            with count_queries() as statements:
                start = time.perf_counter()
                at.run()
                timings.append((time.perf_counter() - start) * 1000)
            queries.append(len(statements))
            assert not at.exception, at.exception
    return {"ms": statistics.median(timings), "summary": summary(timings), "queries": int(statistics.median(queries))}


def _profile(page: str, username: str, platform: Platform, runs: int, out: Path, title: str) -> dict[str, float]:
    profiler = cProfile.Profile()
    _render(page, username, platform, runs, profiler=profiler)
    return write_report(pstats.Stats(profiler), out, title=title, per=runs)


class _NoBareModeWarning(logging.Filter):
    """AppTest runs pages without a server; Streamlit then warns on every run. Not news here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "missing ScriptRunContext" not in record.getMessage()


@contextlib.contextmanager
def _quiet_streamlit() -> Iterator[None]:
    import streamlit.runtime.scriptrunner_utils.script_run_context as module

    logger = logging.getLogger(module.__name__)
    quiet = _NoBareModeWarning()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def measure(
    *,
    my_stores_count: int = 1000,
    admin_count: int = 10000,
    runs: int = 5,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "ADMIN_PASSWORD": "bench-admin-password",
            "COOKIE_KEY": "bench-cookie-key-0123456789abcdef0123",
            "RUN_RECONCILER": "false",
            "LOCAL_SECRETS_FILE": f"{tmp}/secrets.env",
            "LOG_LEVEL": "WARNING",
        }
        with _environment(env), _quiet_streamlit():
            platform = Platform.build(Settings.from_env())
            admin = platform.users.get_actor("admin")
            platform.users.create_user(admin, "heavy", "heavy-user-password", role=Role.USER)
            platform.users.create_user(admin, "other", "other-user-password", role=Role.USER)
            heavy = platform.users.get_actor("heavy")
            other = platform.users.get_actor("other")
            seed(platform, "heavy", heavy.id, my_stores_count, prefix="h")
            seed(platform, "other", other.id, max(0, admin_count - my_stores_count), prefix="o")
            seed_cluster_status(platform)
            pages = {"my_stores": ("pages/my_stores.py", "heavy"), "admin": ("pages/admin.py", "admin")}
            counts = {"my_stores": my_stores_count, "admin": admin_count}
            result: dict[str, Any] = {"runs": runs}
            raw = {key: _render(page, user, platform, runs) for key, (page, user) in pages.items()}
            with server_script_cache():
                served = {key: _render(page, user, platform, runs) for key, (page, user) in pages.items()}
                if profile_dir is not None:
                    result["profile_by_category_ms"] = {
                        key: _profile(
                            page,
                            user,
                            platform,
                            runs,
                            profile_dir / f"profile_ui_{key}.txt",
                            f"{page} with {counts[key]} stores, as {user} (AppTest, shared script cache)",
                        )
                        for key, (page, user) in pages.items()
                    }
            for key in pages:
                n = counts[key]
                result[f"{key}_render_ms_{n}"] = round(served[key]["ms"], 1)
                result[f"{key}_render_ms_apptest_{n}"] = round(raw[key]["ms"], 1)
                result[f"{key}_queries_{n}"] = served[key]["queries"]
                result[f"{key}_render_summary_{n}"] = served[key]["summary"]
            _forget_shared_platforms(env["DATABASE_URL"])
            platform.db.dispose()
    return result


def _forget_shared_platforms(database_url: str) -> None:
    """Close the portal's process-wide Platform built for this temporary database."""
    from provisioning import platform as platform_module

    shared = getattr(platform_module, "_SHARED", None)
    if not isinstance(shared, dict):
        return
    for key, built in list(shared.items()):
        if getattr(getattr(built, "settings", None), "database_url", None) == database_url:
            built.stop()
            built.db.dispose()
            shared.pop(key, None)


if __name__ == "__main__":
    print(measure())
