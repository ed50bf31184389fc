"""pytest plugin and helpers for browser tests: Debian's Chromium through Playwright, and
the waits every page interaction needs (Streamlit connected and idle, never a fixed sleep)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.shared.portal import PASSWORDS
from tests.shared.report import record_component

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
NOT_STALE = '() => !document.querySelector(\'[data-stale="true"], [data-testid="stSkeleton"]\')'


@pytest.fixture(scope="session")
def chromium(pytestconfig: pytest.Config) -> Iterator[Any]:
    """A headless Chromium shared by the session; each test opens its own contexts."""
    executable = next((c for c in CHROMIUM_CANDIDATES if shutil.which(c)), None)
    if executable is None:
        pytest.skip("Chromium not installed: apt-get install chromium (make test does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python) not installed: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        record_component(pytestconfig, "Chromium", str(browser.version))
        try:
            yield browser
        finally:
            browser.close()


def idle(page: Any, *, timeout: float = 30_000) -> None:
    """Streamlit is connected, no script run is in progress and nothing is stale.

    The first check waits for the run a click has just started to be reported (the app's
    ``data-test-script-state`` turns ``running``) for a short while, so that an "idle"
    seen right after a click is not the state from before it.
    """
    # Not seen: the run was over before we looked, or none was started; both are fine.
    with contextlib.suppress(Exception):
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=200)
    page.wait_for_selector(IDLE, timeout=timeout)
    page.wait_for_function(NOT_STALE, timeout=timeout)


def new_page(browser: Any, *, width: int = 1400, height: int = 1500) -> Any:
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def sign_in(page: Any, username: str, password: str | None = None, *, attempts: int = 3) -> None:
    """Fill and send the sign-in form; again if a rerun (the cookie component mounting)
    ate it. Ends on the signed-in "My stores" page, idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _ in range(attempts):
        idle(page)
        page.get_by_role("textbox", name="Username").fill(username)
        page.get_by_role("textbox", name="Password").fill(password or PASSWORDS[username])
        page.get_by_role("button", name="Sign in").click()
        try:
            page.get_by_role("heading", name="My stores").wait_for(timeout=15_000)
            idle(page)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"could not sign in as {username} after {attempts} attempts")
