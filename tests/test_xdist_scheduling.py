"""`make test`'s worker scheduling: which tests must share a worker."""

from __future__ import annotations

import pytest

from tests.shared.scheduling import unit_of


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
