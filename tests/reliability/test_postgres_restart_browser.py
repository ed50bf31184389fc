"""PostgreSQL restarted under a real browser session: the page recovers by itself.

The real server (`streamlit run asgi.py`) on a PostgreSQL the test owns, Debian's
Chromium through Playwright. Alice is signed in; the database stops; her next click shows
the plain "database is unavailable" message; the database starts again and, with no
further action from her, the page reruns and shows her page (the message's retry timer).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from provisioning.models import Role
from provisioning.platform import Platform
from provisioning.settings import Settings
from tests.browser.conftest import chromium  # noqa: F401  (the shared Chromium fixture)
from tests.reliability.support import COOKIE_KEY, RestartablePostgres
from tests.servers import run_portal

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
PASSWORD = "alice-password-1"


def idle(page: Any) -> None:
    page.wait_for_timeout(200)
    page.wait_for_selector(IDLE, timeout=30_000)
    page.wait_for_function(
        '() => !document.querySelector(\'[data-stale="true"], [data-testid="stSkeleton"]\')', timeout=30_000
    )


def sign_in(page: Any, username: str, password: str) -> None:
    """Fill and send the form; again if a rerun (the cookie component mounting) ate it."""
    for _ in range(3):
        idle(page)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        try:
            page.get_by_role("heading", name="My stores").wait_for(timeout=15_000)
            idle(page)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError("could not sign in")


def test_a_signed_in_page_recovers_by_itself_after_a_postgres_restart(
    chromium: Any,  # noqa: F811
    restartable_postgres: RestartablePostgres,
    tmp_path: Path,
) -> None:
    server = restartable_postgres
    env = {
        **os.environ,
        "DATABASE_URL": server.new_database(),
        "ADMIN_PASSWORD": "first-admin-password",
        "COOKIE_KEY": COOKIE_KEY,
        "LOCAL_SECRETS_FILE": str(tmp_path / "secrets.env"),
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"),
        "RUN_RECONCILER": "false",
    }
    platform = Platform.build(Settings.from_env(env))
    platform.users.create_user(platform.users.get_actor("admin"), "alice", PASSWORD, role=Role.USER)
    platform.stores.create_store(platform.users.get_actor("alice"), "alices-shop")
    platform.db.dispose()

    with run_portal(env, tmp_path / "portal.log") as url:
        context = chromium.new_context(viewport={"width": 1300, "height": 1000})
        page = context.new_page()
        try:
            page.goto(url)
            sign_in(page, "alice", PASSWORD)

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
            context.close()
    print(f"\nbrowser: database unavailable message shown; page recovered {recovered:.1f}s after PostgreSQL restarted")
    assert recovered < 20
