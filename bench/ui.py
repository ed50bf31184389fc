"""Server-side render time of My stores and Admin with many stores, through AppTest.

Stores are bulk-inserted (the service's per-user limits would refuse 1,000 stores for
one user; the page does not care how they got there). Each page is rendered a few
times; the median is reported with the number of SQL statements per render.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.querycount import count_queries
from provisioning.models import Role, Store, StoreStatus, new_id, utcnow
from provisioning.platform import Platform
from provisioning.settings import Settings

APP = str(Path(__file__).resolve().parents[1] / "app.py")
STATUSES = [StoreStatus.READY] * 6 + [
    StoreStatus.PROVISIONING,
    StoreStatus.FAILED,
    StoreStatus.REQUESTED,
    StoreStatus.DELETED,
]


def seed(platform: Platform, owner_id: int, count: int, *, prefix: str) -> None:
    now = utcnow()
    rows = []
    for i in range(count):
        store_id = new_id()
        status = STATUSES[i % len(STATUSES)]
        created = now - timedelta(minutes=i)
        rows.append(
            {
                "id": store_id,
                "name": f"{prefix}{i}",
                "active_name": None if status == StoreStatus.DELETED else f"{prefix}{i}",
                "engine": "woocommerce",
                "owner_id": owner_id,
                "namespace": f"store-{prefix}{i}-{store_id[:8]}",
                "status": status,
                "message": "Ready: open http://example"
                if status == StoreStatus.READY
                else "Working: Database: 0/1 ready.",
                "health": "working",
                "conditions": [],
                "url": f"http://{prefix}{i}.stores.localhost",
                "admin_user": f"{prefix}{i}-admin",
                "attempts": 0,
                "created_at": created,
                "updated_at": created,
                "provisioning_started_at": created,
                "ready_at": created + timedelta(seconds=90 + i % 60) if status == StoreStatus.READY else None,
            }
        )
    with platform.db.begin() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(insert(Store), rows[start : start + 2000])


def _render(page: str, username: str, platform: Platform, runs: int) -> tuple[float, int]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["actor"] = platform.users.get_actor(username)
    at.run()
    at.switch_page(page)
    at.run()  # warm: imports, caches
    assert not at.exception, at.exception
    timings, queries = [], []
    for _ in range(runs):
        with count_queries() as statements:
            start = time.perf_counter()
            at.run()
            timings.append((time.perf_counter() - start) * 1000)
        queries.append(len(statements))
        assert not at.exception, at.exception
    return statistics.median(timings), int(statistics.median(queries))


def measure(*, my_stores_count: int = 1000, admin_count: int = 10000, runs: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
            "ADMIN_PASSWORD": "bench-admin-password",
            "COOKIE_KEY": "bench",
            "RUN_RECONCILER": "false",
            "LOCAL_SECRETS_FILE": f"{tmp}/secrets.env",
        }
        os.environ.update(env)
        platform = Platform.build(Settings.from_env())
        admin = platform.users.get_actor("admin")
        platform.users.create_user(admin, "heavy", "heavy-user-password", role=Role.USER)
        platform.users.create_user(admin, "other", "other-user-password", role=Role.USER)
        heavy = platform.users.get_actor("heavy")
        other = platform.users.get_actor("other")
        seed(platform, heavy.id, my_stores_count, prefix="h")
        seed(platform, other.id, max(0, admin_count - my_stores_count), prefix="o")
        my_ms, my_q = _render("pages/my_stores.py", "heavy", platform, runs)
        admin_ms, admin_q = _render("pages/admin.py", "admin", platform, runs)
        platform.db.dispose()
    return {
        f"my_stores_render_ms_{my_stores_count}": round(my_ms, 1),
        f"my_stores_queries_{my_stores_count}": my_q,
        f"admin_render_ms_{admin_count}": round(admin_ms, 1),
        f"admin_queries_{admin_count}": admin_q,
    }


if __name__ == "__main__":
    print(measure())
