"""`make test`'s worker scheduling: which tests must share a worker."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest

from tests.shared.builds import ENV
from tests.shared.scheduling import SharedServerScheduling, unit_of


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("tests/real_node/test_chart.py::test_chart_on_real_node", "real_node"),
        ("tests/store_software/test_medusa.py::test_x[a/b]", "store_software"),
        ("tests/backups/test_s3_client_real_server.py::test_put", "backups"),
        ("tests/browser/test_portal_flow.py::test_order", "browser"),
        ("tests/cluster/test_lifecycle.py::test_x", "tests/cluster/test_lifecycle.py::test_x"),
        ("tests/provisioning/watch/test_informer.py::test_y", "tests/provisioning/watch/test_informer.py::test_y"),
        ("tests/test_architecture.py::test_z", "tests/test_architecture.py::test_z"),
    ],
)
def test_shared_server_packages_are_one_unit_and_every_other_test_its_own(nodeid: str, unit: str) -> None:
    assert unit_of(nodeid) == unit


# -- builds running beside the tests (tests/shared/builds.py) ------------------------------


class _Worker:
    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)


def _scheduler(nodeids: list[str], worker: _Worker) -> SharedServerScheduling:
    """A scheduler with its collection made: each node id its own unit, in this order."""
    scheduler = object.__new__(SharedServerScheduling)
    scheduler.workqueue = OrderedDict((unit_of(n), {n: False}) for n in nodeids)
    scheduler.assigned_work = {}
    scheduler.registered_collections = {worker: nodeids}
    return scheduler


NODEIDS = [
    "tests/real_node/test_chart.py::test_chart",
    "tests/cluster/test_backups.py::test_backup",
    "tests/cluster/test_lifecycle.py::test_x",
    "tests/store_software/test_store_order.py::test_order",
]


def test_units_waiting_on_a_build_go_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    for name in ("node", "coredns", "images", "traefik", "netpol", "s3"):
        (tmp_path / f"{name}.rc").write_text("0\n")  # everything built but Medusa
    worker = _Worker()
    scheduler = _scheduler(NODEIDS, worker)
    scheduler._assign_work_unit(worker)  # type: ignore[arg-type]
    assert list(scheduler.assigned_work[worker]) == ["real_node"]
    (tmp_path / "s3.rc").unlink()  # now the S3 server is still building too
    scheduler._assign_work_unit(worker)  # type: ignore[arg-type]
    assert list(scheduler.assigned_work[worker])[-1] == "tests/cluster/test_lifecycle.py::test_x"
    assert list(scheduler.workqueue) == ["tests/cluster/test_backups.py::test_backup", "store_software"]
    # Only waiting units left: they are sent anyway (their fixtures wait for the build).
    scheduler._assign_work_unit(worker)  # type: ignore[arg-type]
    assert list(scheduler.assigned_work[worker])[-1] == "tests/cluster/test_backups.py::test_backup"
    assert worker.sent == [[0], [2], [1]]


def test_without_builds_beside_the_tests_the_order_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    worker = _Worker()
    scheduler = _scheduler(list(reversed(NODEIDS)), worker)
    for _ in NODEIDS:
        scheduler._assign_work_unit(worker)  # type: ignore[arg-type]
    assert worker.sent == [[0], [1], [2], [3]]
