"""The portal's pages under Streamlit's AppTest, routed through app.py as the running
server routes them, signed in by seeding the session (the login form itself is tested on
its own in tests/pages/test_login.py: the authenticator's cookie component cannot run
headless)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from streamlit.testing.v1 import AppTest

from provisioning.platform import Platform
from tests.shared.portal import ROOT

APP = str(ROOT / "app.py")
PAGES = {
    "stores": "pages/my_stores.py",
    "new": "pages/new_store.py",
    "store": "pages/store.py",
    "tokens": "pages/api_tokens.py",
    "notifications": "pages/notifications.py",
    "admin": "pages/admin.py",
}


def open_page(platform: Platform | Any, page: str | None, username: str | None, **query: str) -> AppTest:
    """A session signed in as ``username`` (None: anonymous) on ``page`` (None: the
    landing page) with the query parameters ``query``. ``platform``: anything with the
    portal's ``users`` service (a Platform, a StorePlatform)."""
    at = AppTest.from_file(APP, default_timeout=30)
    if username:
        at.session_state["actor"] = platform.users.get_actor(username)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(PAGES[page])
        at.run()
    return at


def everything_shown(at: AppTest) -> str:
    """All text a user could read on the page (main area and sidebar), including tables."""
    parts: list[str] = []
    for kind in ("markdown", "title", "header", "subheader", "caption", "error", "warning", "info", "success", "code"):
        parts += [str(e.value) for e in at.get(kind)]
        parts += [str(e.value) for e in at.sidebar.get(kind)]
    parts += [e.value.to_csv() for e in at.dataframe]
    parts += [str(e.label) for e in at.button] + [str(e.label) for e in at.text_input]
    parts += [str(e.proto) for e in at.get("expandable")]
    parts += [str(e.value) for e in at.exception]
    return "\n".join(parts)


@contextmanager
def portal_navigation() -> Iterator[None]:
    """Make AppTest route pages through app.py, as the running portal does.

    Streamlit keeps a process-wide flag, PagesManager.uses_pages_directory: True until the
    first st.navigation call, after which every run executes app.py (sign-in, banner,
    error handling) and app.py runs the page. AppTest resets the flag before every run,
    and since the repo has a pages/ folder, a run after switch_page() executes the page
    file alone, skipping app.py. Forcing the flag to False after the reset gives the
    server's steady state, so a test sees what a user of the running portal sees.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        PagesManager.__init__ = original  # type: ignore[method-assign]


def submit_sign_in(at: AppTest, username: str, password: str) -> AppTest:
    """Fill and send the sign-in form, as a user does.

    After a right password the run ends on "Signing you in…" until the browser has written
    the cookie (portal/auth.py); AppTest runs no browser component, so the next run stands
    for the cookie setter's answer.
    """
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    at.run()
    if "Signing you in…" in [c.value for c in at.caption]:
        at.run()
    return at
