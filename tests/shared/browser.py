"""pytest plugin and helpers for browser tests: Debian's Chromium through Playwright, and
the waits every page interaction needs (Streamlit connected and idle, never a fixed sleep)."""

from __future__ import annotations

import contextlib
import shutil
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tests.shared.portal import PASSWORDS, ROOT
from tests.shared.report import record_component

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# How long an auto-waiting assertion (expect) or locator action waits. Playwright's 5 s
# default is shorter than one page rerun on a loaded 2-core CI machine: a link rendered
# by the rerun a status change triggers was missed that way (browser flake, run 1).
TIMEOUT_MS = 30_000
APP = '[data-testid="stApp"]'
# A page whose app element is not there this long after loading stayed blank: Streamlit's
# scripts never ran (seen once under CI load, white screenshot, nothing in the portal's log).
BOOT_TIMEOUT_MS = 20_000
# A request that failed with this error was aborted by Chromium because an interface of the
# host changed, not by the portal (seen in final16: the app's code chunks, then stale forever).
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"
NETWORK_CHANGE_RELOADS = 2
IDLE = '[data-testid="stApp"][data-test-connection-state="CONNECTED"][data-test-script-state="notRunning"]'
LOST_CODE = "Failed to fetch dynamically imported module"
NOT_STALE = '() => !document.querySelector(\'[data-stale="true"], [data-testid="stSkeleton"]\')'


@pytest.fixture(scope="module")
def chromium(pytestconfig: pytest.Config) -> Iterator[Any]:
    """A headless Chromium for the module; each test opens its own contexts.

    Not for the session: while Playwright's sync API is open, its event loop counts as
    running in this thread, so every later test on the same xdist worker that calls
    asyncio.run() (the API tests' ASGI calls) failed, when the scheduler happened to send
    them to the worker that had run a browser test.
    """
    executable = next((c for c in CHROMIUM_CANDIDATES if shutil.which(c)), None)
    if executable is None:
        pytest.skip("Chromium not installed: apt-get install chromium (make test does)")
    try:
        from playwright.sync_api import expect, sync_playwright
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
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()


def idle(page: Any, *, timeout: float = 30_000, boot_timeout: float = BOOT_TIMEOUT_MS) -> None:
    """Streamlit is connected, no script run is in progress and nothing is stale.

    The first check waits for the run a click has just started to be reported (the app's
    ``data-test-script-state`` turns ``running``) for a short while, so that an "idle"
    seen right after a click is not the state from before it.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_selector(APP, state="attached", timeout=min(timeout, boot_timeout))
    except PlaywrightTimeoutError:
        # Reload, as a person would; the warning (in pytest's summary) keeps what the page
        # saw, failed requests and script errors included, so the cause can be found.
        warnings.warn(f"blank page after {boot_timeout / 1000:g}s, reloaded: {page_state(page)}", stacklevel=2)
        page.reload()
    # Not seen: the run was over before we looked, or none was started; both are fine.
    with contextlib.suppress(Exception):
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=200)
    for reloads_left in range(NETWORK_CHANGE_RELOADS, -1, -1):
        try:
            page.wait_for_selector(IDLE, timeout=timeout)
            page.wait_for_function(NOT_STALE, timeout=timeout)
            return
        except PlaywrightTimeoutError as error:
            if reloads_left and _NETWORK_CHANGED.pop(page, False):
                # Chromium aborts requests in flight, loopback ones included, when the host's
                # interfaces change, and the real node's harness adds and removes some
                # (bridges, veths) while the browser tests run: a person would reload.
                warnings.warn(f"requests dropped by a host network change, reloaded: {page_state(page)}", stacklevel=2)
                page.reload()
                continue
            raise AssertionError(f"the page did not become idle in {timeout / 1000:g}s: {page_state(page)}") from error


def page_state(page: Any) -> str:
    """What the app reported last: URL, connection and script state, stale elements, and
    the page's last failed requests, error responses and script errors."""
    try:
        state = page.evaluate(
            """() => {
                const app = document.querySelector('[data-testid="stApp"]');
                return {
                    connection: app && app.dataset.testConnectionState,
                    script: app && app.dataset.testScriptState,
                    stale: document.querySelectorAll('[data-stale="true"], [data-testid="stSkeleton"]').length,
                };
            }"""
        )
    except Exception as error:  # the page itself is gone: say so
        return f"url {page.url}, state unreadable ({error})"
    seen = "; ".join(_EVENTS.get(page, ())) or "none"
    return (
        f"url {page.url}, connection {state['connection']}, script {state['script']}, "
        f"stale elements {state['stale']}, page events: {seen}"
    )


# What each page saw go wrong (new_page records it): the evidence for a page that broke.
_EVENTS: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()
# Pages that had a request aborted by a host network change since their last reload by idle().
_NETWORK_CHANGED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _record_events(page: Any) -> None:
    events = _EVENTS.setdefault(page, [])

    def note(text: str) -> None:
        events.append(f"{time.strftime('%H:%M:%S')} {text}")
        del events[:-10]

    def request_failed(request: Any) -> None:
        note(f"request failed {request.url} ({request.failure})")
        if NETWORK_CHANGED in str(request.failure):
            _NETWORK_CHANGED[page] = True

    page.on("requestfailed", request_failed)
    page.on("response", lambda response: response.status >= 400 and note(f"HTTP {response.status} {response.url}"))
    page.on("pageerror", lambda error: note(f"script error {error}"))
    page.on("console", lambda message: message.type == "error" and note(f"console error {message.text}"))
    page.on("crash", lambda _page: note("page crashed"))


def new_page(browser: Any, *, width: int = 1400, height: int = 1500) -> Any:
    """A page in a context of its own (its own cookies: one user each)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    _record_events(page)
    return page


def sign_in(page: Any, username: str, password: str | None = None, *, attempts: int = 3) -> None:
    """Fill and send the sign-in form; again if a rerun (the cookie component mounting)
    ate it. Ends on the signed-in "My stores" page, idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for _ in range(attempts):
        idle(page)
        name_box = page.get_by_role("textbox", name="Username")
        # A new context loads Streamlit's widget code on first use. Under CI load Chromium
        # once failed that fetch (shown in place of both inputs; the portal logged nothing):
        # reload, as a person would.
        lost_code = page.get_by_text(LOST_CODE).first
        name_box.or_(lost_code).first.wait_for(timeout=TIMEOUT_MS)
        if lost_code.is_visible():
            page.reload()
            continue
        name_box.fill(username)
        page.get_by_role("textbox", name="Password").fill(password or PASSWORDS[username])
        page.get_by_role("button", name="Sign in").click()
        try:
            page.get_by_role("heading", name="My stores").wait_for(timeout=15_000)
        except PlaywrightTimeoutError:
            continue
        idle(page)
        return
    raise AssertionError(f"could not sign in as {username} after {attempts} attempts")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a browser test fails, keep a screenshot and the app's state of every open page
    (test-artifacts/failures/), so a failure on CI can be read without rerunning it."""
    outcome = yield
    report = outcome.get_result()
    browser = getattr(item, "funcargs", {}).get("chromium")
    if report.when != "call" or not report.failed or browser is None:
        return
    target = ROOT / "test-artifacts" / "failures"
    target.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lines = []
    for c, context in enumerate(browser.contexts):
        for p, page in enumerate(context.pages):
            name = f"{stamp}-{item.name[:60]}-{c}-{p}"
            with contextlib.suppress(Exception):
                page.screenshot(path=str(target / f"{name}.png"), full_page=True)
            lines.append(f"{name}: {page_state(page)}")
    (target / f"{stamp}-{item.name[:60]}.txt").write_text("\n".join(lines) + "\n")
    report.sections.append(("open pages at the failure", "\n".join(lines)))
