"""Start independent servers in parallel: each in a thread of its own that lives as long
as the server does.

The control plane's processes are started with PR_SET_PDEATHSIG, which fires when the
*thread* that started them ends; so the starting thread stays alive (parked on an event)
until the server is stopped, and stops it itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Background(Generic[T]):
    """``start()`` runs in a thread now; ``result()`` waits for it; ``close()`` runs
    ``stop(server)`` in that same thread and waits for it."""

    def __init__(self, name: str, start: Callable[[], T], stop: Callable[[T], None]) -> None:
        self.name = name
        self._start = start
        self._stop = stop
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=f"start-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        began = time.monotonic()
        try:
            self._value = self._start()
        except BaseException as error:  # handed to the caller of result()
            self._error = error
        finally:
            self.seconds = time.monotonic() - began
            self._ready.set()
        if self._error is not None:
            return
        self._closing.wait()
        assert self._value is not None
        self._stop(self._value)

    def result(self, timeout: float = 300) -> T:
        """The started server; the start's exception if it failed."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not start within {timeout:g}s")
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def close(self, timeout: float = 120) -> None:
        self._closing.set()
        self._thread.join(timeout)
