"""Wake the reconciler when an intent is recorded, instead of waiting for its next pass.

One `Wakeup` per database engine, so the service layer and the reconciler of one Platform
(which share the engine) share it:

- In-process: `intent_recorded(session)` inside the intent's transaction sets the
  Wakeup's event once that transaction commits (a rolled-back intent wakes nobody).
- Across processes, on PostgreSQL: the same call issues `NOTIFY store_platform_intent` in
  that transaction, so PostgreSQL delivers it only on commit; each reconciler process runs
  a `listen` thread on a connection of its own that sets the event. The thread reconnects
  with backoff when the connection drops and logs once per outage.
- SQLite has no NOTIFY: a reconciler in another process (`python -m provisioning.worker`)
  falls back to polling every RECONCILE_INTERVAL_SECONDS.

Polling stays as the safety net either way: a lost notification costs one interval.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "store_platform_intent"
# How often a wait looks at the stop event (a stop is seen within this).
STOP_CHECK_SECONDS = 0.2
# The listener: how long one notifies() call blocks, and its reconnect backoff.
LISTEN_POLL_SECONDS = 1.0
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0


class Wakeup:
    """An event set by `notify()` and awaited by the reconciler between passes."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.listener_pid: int | None = None  # the listener's server process (tests kill it)

    def notify(self) -> None:
        self._event.set()

    def clear(self) -> None:
        """At the start of a pass: intents recorded so far are all handled by it (coalescing)."""
        self._event.clear()

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait up to `timeout` seconds; True when woken, False on timeout or stop."""
        deadline = time.monotonic() + timeout
        while not self._event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            self._event.wait(remaining if stop is None else min(remaining, STOP_CHECK_SECONDS))
        return True

    def listen(self, db: Engine, stop: threading.Event) -> threading.Thread | None:
        """Start the PostgreSQL listener thread (None on SQLite); it ends when `stop` is set."""
        if db.dialect.name != "postgresql":
            return None
        url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        thread = threading.Thread(target=self._listen, args=(url, stop), name="wakeup-listener", daemon=True)
        thread.start()
        return thread

    def _listen(self, url: str, stop: threading.Event) -> None:
        import psycopg

        delay, down = RECONNECT_MIN_SECONDS, False
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listener_pid = conn.info.backend_pid
                    if down:
                        log.info("wake-up listener reconnected")
                        self.notify()  # intents may have come while it was down
                    delay, down = RECONNECT_MIN_SECONDS, False
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=LISTEN_POLL_SECONDS):
                            self.notify()
            except Exception as error:  # never let the listener take the reconciler down
                self.listener_pid = None
                if stop.is_set():  # e.g. the database went away during shutdown
                    return
                if not down:
                    log.warning("wake-up listener lost its connection (polling until it is back): %s", error)
                down = True
                stop.wait(delay)
                delay = min(RECONNECT_MAX_SECONDS, delay * 2)


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, Wakeup] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def for_database(db: Engine) -> Wakeup:
    """The Wakeup shared by everything in this process that uses the engine `db`."""
    with _LOCK:
        wakeup = _BY_ENGINE.get(db)
        if wakeup is None:
            wakeup = _BY_ENGINE[db] = Wakeup()
        return wakeup


def intent_recorded(session: Session) -> None:
    """Call inside the transaction that records an intent (create, delete, retry, suspend,
    resume): wakes this process's reconciler on commit, and on PostgreSQL every other
    process's through NOTIFY (delivered by PostgreSQL only if the transaction commits)."""
    engine = session.get_bind().engine
    if engine.dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))
    wakeup = for_database(engine)
    event.listen(session, "after_commit", lambda _session: wakeup.notify(), once=True)
