"""PostgreSQL restarted under a real browser session: the page recovers by itself.

The real server (`streamlit run asgi.py`) on a PostgreSQL the test owns, Debian's
Chromium through Playwright. Alice is signed in; the database stops; her next click shows
the plain "database is unavailable" message; the database starts again and, with no
further action from her, the page reruns and shows her page (the message's retry timer).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import RestartablePostgres
from tests.shared.browser import new_page, sign_in
from tests.shared.portal import build_platform, portal_env
from tests.shared.servers import run_portal

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def test_a_signed_in_page_recovers_by_itself_after_a_postgres_restart(
    chromium: Any,
    restartable_postgres: RestartablePostgres,
    tmp_path: Path,
) -> None:
    server = restartable_postgres
    env = portal_env(tmp_path, database_url=server.new_database(), inherit=True)
    platform = build_platform(env, users=("alice",))
    platform.stores.create_store(platform.users.get_actor("alice"), "alices-shop")
    platform.db.dispose()

    with run_portal(env, tmp_path / "portal.log") as url:
        page = new_page(chromium, width=1300, height=1000)
        try:
            page.goto(url)
            sign_in(page, "alice")

            server.stop()
            try:
                page.get_by_role("link", name="New store").first.click()
                message = page.get_by_text("The database is unavailable")
                message.wait_for(timeout=30_000)
                body = page.locator('[data-testid="stMain"]').inner_text()
                assert "Traceback" not in body and "OperationalError" not in body, body
            finally:
                server.start()
            started = time.monotonic()
            # No click, no reload: the page's retry timer reruns it.
            page.get_by_role("heading", name="New store").wait_for(timeout=30_000)
            message.wait_for(state="detached", timeout=30_000)
            recovered = time.monotonic() - started
            assert "Signed in as alice" in page.locator('[data-testid="stSidebar"]').inner_text(), "signed out"
            assert page.url.endswith("/new"), f"the page changed: {page.url}"
        finally:
            page.context.close()
    print(f"\nbrowser: database unavailable message shown; page recovered {recovered:.1f}s after PostgreSQL restarted")
    assert recovered < 20
