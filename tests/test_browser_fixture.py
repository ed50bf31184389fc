"""The shared Chromium fixture (tests/shared/browser.py) leaves no running event loop behind
for the tests that come after a browser module on the same worker."""

from __future__ import annotations

import pytest

from tests.shared.portal import ROOT

pytestmark = pytest.mark.browser


def test_a_test_after_a_browser_module_can_run_an_event_loop(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: with a session-scoped Chromium, the API tests that a worker ran after a browser
    # test failed with "asyncio.run() cannot be called from a running event loop" (final15).
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(
        test_a_browser="""
def test_opens_a_page(chromium):
    context = chromium.new_context()
    context.new_page().set_content("<p>ready</p>")
    context.close()
""",
        test_b_event_loop="""
import asyncio

async def answer():
    return 42

def test_runs_an_event_loop():
    assert asyncio.run(answer()) == 42
""",
    )
    result = pytester.runpytest_subprocess(
        "-p", "tests.shared.report", "-p", "tests.shared.browser", "-p", "no:cacheprovider", "-v"
    )
    result.stdout.fnmatch_lines(["*test_a_browser.py::test_opens_a_page PASSED*"])
    result.assert_outcomes(passed=2)
