"""The informer's bookkeeping, event by event, on a scripted API (no threads, no server).

The thread, the real stream and a real API server's answers are covered by
tests/provisioning/watch/test_cached_cluster_on_api_server.py; here every rule about
versions, fences and deletions is driven one event at a time so each branch is reached.
"""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.errors import ClusterUnavailableError
from provisioning.watch.informer import Informer, Stale, _events, _Expired


def deployment(name: str, version: int, *, uid: str = "u1", ready: int = 0, namespace: str = "s1") -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(version),
            "managedFields": [{"manager": "store-platform"}],
        },
        "status": {"readyReplicas": ready},
    }


class ScriptedApi:
    """`collection` answers from a list of pages; counts the calls."""

    def __init__(self, *pages: dict[str, Any]) -> None:
        self.pages = list(pages)
        self.queries: list[dict[str, str]] = []

    def collection(self, api_version: str, kind: str, query: dict[str, str]) -> dict[str, Any]:
        self.queries.append(query)
        return self.pages.pop(0)


def page(*items: dict[str, Any], version: int, cont: str = "") -> dict[str, Any]:
    return {"items": list(items), "metadata": {"resourceVersion": str(version), "continue": cont}}


def listed(*items: dict[str, Any], version: int = 10, changes: list[Any] | None = None) -> Informer:
    informer = Informer(
        ScriptedApi(page(*items, version=version)),  # type: ignore[arg-type]
        "apps/v1",
        "Deployment",
        label_selector="a=b",
        on_change=(changes.append if changes is not None else None),
    )
    informer._list()
    return informer


def test_nothing_is_answered_before_the_first_list() -> None:
    informer = Informer(ScriptedApi(), "apps/v1", "Deployment")  # type: ignore[arg-type]
    with pytest.raises(Stale):
        informer.get("s1", "web")
    with pytest.raises(Stale):
        informer.in_namespace("s1")


def test_a_list_is_paged_and_stored_without_managed_fields() -> None:
    api = ScriptedApi(page(deployment("a", 3), version=9, cont="next"), page(deployment("b", 4), version=9))
    informer = Informer(api, "apps/v1", "Deployment", label_selector="a=b")  # type: ignore[arg-type]
    informer._list()
    assert [q.get("continue") for q in api.queries] == [None, "next"]
    assert all(q["labelSelector"] == "a=b" and q["limit"] == "500" for q in api.queries)
    assert informer.synced and len(informer) == 2
    obj = informer.get("s1", "a")
    assert obj is not None and "managedFields" not in obj["metadata"]
    assert informer.get("s1", "missing") is None
    assert [o["metadata"]["name"] for o in informer.in_namespace("s1")] == ["a", "b"]
    assert informer.in_namespace("other") == []


def test_events_add_modify_and_delete_and_wake_on_status_changes_only() -> None:
    changes: list[Any] = []
    informer = listed(changes=changes)
    informer._handle({"type": "ADDED", "object": deployment("web", 11)})
    informer._handle({"type": "MODIFIED", "object": deployment("web", 12)})  # same status: no wake
    informer._handle({"type": "MODIFIED", "object": deployment("web", 13, ready=1)})
    web = informer.get("s1", "web")
    assert web is not None and web["status"]["readyReplicas"] == 1
    informer._handle({"type": "DELETED", "object": deployment("web", 14, ready=1)})
    assert informer.get("s1", "web") is None and informer.in_namespace("s1") == []
    assert [c["metadata"]["resourceVersion"] for c in changes] == ["11", "13", "14"]


def test_a_bookmark_moves_the_version_only() -> None:
    informer = listed(deployment("web", 5))
    informer._handle({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "99"}}})
    assert informer._version == "99" and len(informer) == 1


def test_our_write_is_never_hidden_by_an_older_event() -> None:
    informer = listed(deployment("web", 5, ready=1))
    # A plan change: our apply's answer has the new generation at version 20.
    informer.note_written(deployment("web", 20, ready=0))
    # The stream still delivers the old generation's status (version 18), fully rolled out.
    informer._handle({"type": "MODIFIED", "object": deployment("web", 18, ready=1)})
    web = informer.get("s1", "web")
    assert web is not None and web["metadata"]["resourceVersion"] == "20"
    # Newer news from the controller goes in, and the fence is lifted.
    informer._handle({"type": "MODIFIED", "object": deployment("web", 21, ready=2)})
    web = informer.get("s1", "web")
    assert web is not None and web["status"]["readyReplicas"] == 2
    assert informer._fences == {}
    # An older answer of ours (a slow thread) does not replace a newer object either.
    informer.note_written(deployment("web", 19))
    assert informer.get("s1", "web")["metadata"]["resourceVersion"] == "21"  # type: ignore[index]


def test_a_relist_keeps_what_we_wrote_after_its_snapshot() -> None:
    informer = listed(deployment("web", 5))
    informer.note_written(deployment("web", 30, ready=0))
    informer.note_written(deployment("job", 8))
    informer.kube = ScriptedApi(page(deployment("web", 25, ready=1), deployment("job", 9), version=29))  # type: ignore[assignment]
    informer._list()
    assert informer.get("s1", "web")["metadata"]["resourceVersion"] == "30"  # type: ignore[index]
    assert informer.get("s1", "job")["metadata"]["resourceVersion"] == "9"  # type: ignore[index]
    assert set(informer._fences) == {("s1", "web")}


def test_a_deleted_object_stays_gone_until_its_deletion_or_a_new_object_arrives() -> None:
    informer = listed(deployment("setup", 5, uid="old", ready=1))
    informer.note_deleted("s1", "setup")
    assert informer.get("s1", "setup") is None
    # The old object's late update must not bring it back (a finished setup Job re-read as done).
    informer._handle({"type": "MODIFIED", "object": deployment("setup", 6, uid="old", ready=1)})
    assert informer.get("s1", "setup") is None
    # A new object under the same name is news.
    informer._handle({"type": "ADDED", "object": deployment("setup", 8, uid="new")})
    new = informer.get("s1", "setup")
    assert new is not None and new["metadata"]["uid"] == "new"


def test_a_delete_of_an_object_never_seen_reads_the_api_until_the_stream_settles_it() -> None:
    informer = listed()
    informer.note_deleted("s1", "setup")
    with pytest.raises(Stale):
        informer.get("s1", "setup")
    informer._handle({"type": "MODIFIED", "object": deployment("setup", 12, uid="x")})
    with pytest.raises(Stale):
        informer.get("s1", "setup")  # old or new? unknown: still the API
    informer._handle({"type": "DELETED", "object": deployment("setup", 13, uid="x")})
    assert informer.get("s1", "setup") is None


def test_an_apply_after_a_delete_is_read_at_once() -> None:
    informer = listed(deployment("setup", 5, uid="old", ready=1))
    informer.note_deleted("s1", "setup")
    informer.note_written(deployment("setup", 9, uid="new"))
    informer._handle({"type": "MODIFIED", "object": deployment("setup", 6, uid="old", ready=1)})
    setup = informer.get("s1", "setup")
    assert setup is not None and setup["metadata"]["uid"] == "new"


def test_expired_and_error_events() -> None:
    informer = listed()
    with pytest.raises(_Expired):
        informer._handle({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}})
    with pytest.raises(ClusterUnavailableError, match="internal"):
        informer._handle({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "internal"}})


def test_a_version_that_is_not_a_number_turns_the_cache_off() -> None:
    informer = listed()
    informer._handle(
        {"type": "ADDED", "object": {"metadata": {"name": "w", "namespace": "s1", "resourceVersion": "x"}}}
    )
    assert not informer.synced
    with pytest.raises(Stale):
        informer.get("s1", "w")
    assert informer._stop.is_set()


class Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def stream(self, amt: int, decode_content: bool) -> Any:
        return iter(self.chunks)


def test_events_are_split_on_lines_across_chunks() -> None:
    stream = Chunks(
        b'{"type": "ADDED", "obj', b'ect": {}}\n{"type": "BOOK', b'MARK", "object": {}}\n\n', b'{"type": "X"}'
    )
    assert [e["type"] for e in _events(stream)] == ["ADDED", "BOOKMARK", "X"]
