"""One way to wait in tests: poll a condition with a deadline, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """A condition did not hold in time. An AssertionError (a test failure, not an error)
    and a TimeoutError (what ``tests.harness.kube.wait_for`` always raised)."""


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
    message: str | None = None,
    what: str | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy and return that value.

    After ``timeout`` seconds raise ``WaitTimeout`` naming what was awaited (``message`` or
    its alias ``what``) and the last value observed, so a failure explains itself. An
    exception from ``predicate`` propagates at once: it is a failure, not "not yet".
    """
    described = message or what or "condition"
    deadline = time.monotonic() + timeout
    polls = 0
    while True:
        last = predicate()
        polls += 1
        if last:
            return last
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {described} (last: {last!r}, {polls} polls)")
        time.sleep(interval)


def wait_until(
    predicate: Callable[[], T | None], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> T:
    """The reliability tests' name for ``wait_for`` (kept as an alias)."""
    return wait_for(predicate, timeout=timeout, interval=interval, what=what)
