"""One kind of object, listed once and then followed through the API server's watch.

Why: reading readiness with a GET per object per store per pass made the reconciler's cost
grow with the number of stores (77 of 94 requests per store at N = 100). A LIST and a WATCH
per kind cost the same whatever the count, and the objects are in memory when a pass reads
them.

What real watches do, and what this does about it:

- The watch ends (the server's timeoutSeconds, a dropped connection): watch again from the
  last resourceVersion seen; bookmarks keep that version fresh when nothing changes.
- "resourceVersion too old" (410 Gone, as an ERROR event or a status): list again.
- Any other failure (the API server restarting, a 403): the kind stops being *synced*,
  callers read the API directly (see `Stale`), and the informer lists again with backoff.
- Our own writes race the stream: an apply's answer is put in at once (`note_written`)
  and fences the key, so an older event from the stream can never hide what we wrote (a
  plan change read as "rolled out" from the old generation's status). A delete removes the
  key and ignores the deleted object's late events.

Resource versions are compared as integers: etcd's revisions, which every Kubernetes API
server serving from etcd uses. A version that is not an integer stops the cache (reads go
to the API), so a server that does otherwise is slower, never wrong.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

from provisioning.errors import ClusterRejectedError, ClusterUnavailableError
from provisioning.kube import KubeCluster

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds
PAGE_SIZE = 500
# The server ends each watch after this many seconds (spread, like client-go's, so the
# kinds do not all reconnect at once); the client's read timeout is longer, so the server
# always ends it first.
WATCH_SECONDS = (240, 300)
READ_TIMEOUT_MARGIN = 30.0
BACKOFF_MIN, BACKOFF_MAX = 0.2, 5.0


class Stale(Exception):
    """The cache cannot answer for this key now: read the API instead."""


def _key(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _version(obj: dict[str, Any]) -> int:
    """The object's resourceVersion as an integer (ValueError when it is not one)."""
    return int((obj.get("metadata") or {}).get("resourceVersion", ""))


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop managedFields: a third of a server-side-applied object, and never read here."""
    meta = obj.get("metadata")
    if meta and "managedFields" in meta:
        obj["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return obj


class Informer:
    """The latest objects of one kind matching a selector, kept up to date by a watch thread."""

    def __init__(
        self,
        kube: KubeCluster,
        api_version: str,
        kind: str,
        *,
        label_selector: str = "",
        field_selector: str = "",
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.kube, self.api_version, self.kind = kube, api_version, kind
        self._selectors = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        self._on_change = on_change
        self._lock = threading.Lock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._by_namespace: dict[str, set[str]] = {}
        self._fences: dict[Key, int] = {}  # written by us at this version: ignore anything older
        self._deleted: dict[Key, str | None] = {}  # deleted by us: the uid whose late events to ignore
        self._synced = threading.Event()
        self._version = ""  # the last resourceVersion seen (list, event or bookmark)
        self._response: Any = None
        self._stop = threading.Event()
        self._relist = threading.Event()  # resync asked: list again
        self.lists = 0  # LISTs made (the first and every relist): tests and the bench read it

    # -- reading --------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist; Stale when the cache cannot say."""
        key = (namespace, name)
        with self._lock:
            if not self._synced.is_set() or self._deleted.get(key, "") is None:
                raise Stale(f"{self.kind} {namespace}/{name}")
            return self._objects.get(key)

    def in_namespace(self, namespace: str) -> list[dict[str, Any]]:
        with self._lock:
            if not self._synced.is_set():
                raise Stale(f"{self.kind} in {namespace}")
            return [self._objects[(namespace, name)] for name in sorted(self._by_namespace.get(namespace, ()))]

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    # -- our own writes -------------------------------------------------------------------

    def note_written(self, obj: dict[str, Any]) -> None:
        """An apply's or patch's answer: newer than anything the stream has delivered so far."""
        key = _key(obj)
        with self._lock:
            self._deleted.pop(key, None)
            try:
                version = _version(obj)
            except ValueError:
                self._unusable(obj)
                return
            current = self._objects.get(key)
            if version >= max(self._fences.get(key, 0), _version(current) if current else 0):
                self._fences[key] = version
                self._put(key, _slim(obj))

    def note_deleted(self, namespace: str, name: str) -> None:
        """Gone for our purposes now, whatever the stream still has to deliver about it."""
        key = (namespace, name)
        with self._lock:
            old = self._objects.get(key)
            self._deleted[key] = ((old or {}).get("metadata") or {}).get("uid")
            self._fences.pop(key, None)
            self._drop(key)

    # -- the watch thread -----------------------------------------------------------------

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=f"watch-{self.kind.lower()}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the thread now: closing its response unblocks the read it waits in."""
        self._stop.set()
        self._close_response()

    def resync(self) -> None:
        """Forget the stream and list again (the reconciler lost the cluster: a watch may
        have died silently); readers use the API until the new LIST is in."""
        self._synced.clear()
        self._relist.set()
        self._close_response()

    def _close_response(self) -> None:
        """Unblock the read the thread waits in."""
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # already closed
                response.shutdown() if hasattr(response, "shutdown") else response.close()

    def _run(self) -> None:
        delay, failing = BACKOFF_MIN, False
        while not self._stop.is_set():
            try:
                if self._relist.is_set() or not self._synced.is_set():
                    self._relist.clear()
                    self._list()
                self._watch()
                delay = BACKOFF_MIN
                if failing:
                    log.info("watch of %s is back", self.kind)
                failing = False
            except _Expired:
                self._synced.clear()  # relist now; readers use the API meanwhile
            except Exception as error:  # never let one kind's trouble end its thread
                if self._stop.is_set():
                    return
                self._synced.clear()
                if self._relist.is_set():  # asked for (resync): list again at once, nothing to report
                    continue
                if not failing:
                    log.warning("watch of %s failed (reading the API directly until it is back): %s", self.kind, error)
                failing = True
                self._stop.wait(delay)
                delay = min(BACKOFF_MAX, delay * 2)

    def _list(self) -> None:
        items: list[dict[str, Any]] = []
        query = {**self._selectors, "limit": str(PAGE_SIZE)}
        while True:
            page = self.kube.collection(self.api_version, self.kind, query)
            items += page.get("items") or []
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
            query = {**query, "continue": cont}
        self.lists += 1
        version = (page.get("metadata") or {}).get("resourceVersion", "")
        with self._lock:
            self._replace(items)
            self._version = version
            self._synced.set()

    def _watch(self) -> None:
        seconds = random.randint(*WATCH_SECONDS)
        query = {
            **self._selectors,
            "resourceVersion": self._version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(seconds),
        }
        try:
            response = self.kube.open_watch(
                self.api_version, self.kind, query, read_timeout=seconds + READ_TIMEOUT_MARGIN
            )
        except ClusterRejectedError as error:
            if getattr(error, "status", None) == 410:
                raise _Expired() from None
            raise
        self._response = response
        try:
            if self._relist.is_set() or self._stop.is_set():  # asked while the watch was being opened
                return
            for event in _events(response):
                if self._stop.is_set():
                    return
                self._handle(event)
        finally:
            self._response = None
            response.release_conn() if hasattr(response, "release_conn") else None

    def _handle(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired()
            raise ClusterUnavailableError(f"watch error: {obj.get('message') or obj}")
        version = (obj.get("metadata") or {}).get("resourceVersion", "")
        if kind == "BOOKMARK":
            self._version = version
            return
        changed = False
        with self._lock:
            self._version = version
            key = _key(obj)
            uid = (obj.get("metadata") or {}).get("uid")
            if key in self._deleted:
                gone = self._deleted[key]
                if kind != "DELETED" and (gone is None or uid == gone):
                    return  # the deleted object's late news (or, uid unknown, maybe): stay Stale
                del self._deleted[key]  # its deletion arrived, or a new object under the name
            try:
                if _version(obj) < self._fences.get(key, 0):
                    return  # older than what we wrote: our write's answer stays
            except ValueError:
                self._unusable(obj)
                return
            self._fences.pop(key, None)
            old = self._objects.get(key)
            if kind == "DELETED":
                self._drop(key)
            else:
                self._put(key, _slim(obj))
            changed = old is None or kind == "DELETED" or old.get("status") != obj.get("status")
        if changed and self._on_change is not None:
            self._on_change(obj)

    # -- the store (callers hold the lock) ------------------------------------------------

    def _replace(self, items: list[dict[str, Any]]) -> None:
        """A fresh LIST, except what we wrote after it was taken and what we deleted."""
        fresh: dict[Key, dict[str, Any]] = {}
        for obj in items:
            key = _key(obj)
            if key in self._deleted and (obj.get("metadata") or {}).get("uid") in (self._deleted[key], None):
                continue
            fresh[key] = _slim(obj)
        for key, fence in list(self._fences.items()):
            mine = self._objects.get(key)
            listed = fresh.get(key)
            if mine is not None and (listed is None or _version(listed) < fence):
                fresh[key] = mine
            else:
                del self._fences[key]
        self._objects, self._by_namespace = {}, {}
        for key, obj in fresh.items():
            self._put(key, obj)

    def _put(self, key: Key, obj: dict[str, Any]) -> None:
        self._objects[key] = obj
        self._by_namespace.setdefault(key[0], set()).add(key[1])

    def _drop(self, key: Key) -> None:
        self._objects.pop(key, None)
        names = self._by_namespace.get(key[0])
        if names is not None:
            names.discard(key[1])
            if not names:
                del self._by_namespace[key[0]]

    def _unusable(self, obj: dict[str, Any]) -> None:
        log.warning(
            "%s resourceVersion %r is not an integer: reading %s from the API instead of a cache",
            self.kind,
            (obj.get("metadata") or {}).get("resourceVersion"),
            self.kind,
        )
        self._synced.clear()
        self._stop.set()


class _Expired(Exception):
    """The watch's resourceVersion is too old (410): list again."""


def _events(response: Any) -> Iterator[dict[str, Any]]:
    """The JSON events of a watch response, one per line, as the server flushes them."""
    buffer = b""
    for chunk in response.stream(65536, decode_content=True):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if buffer.strip():
        yield json.loads(buffer)
