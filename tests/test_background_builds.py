"""Fixtures waiting on the builds `make test` runs beside the tests (tests/shared/builds.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.shared import builds


@pytest.fixture
def beside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(builds.ENV, str(tmp_path))
    monkeypatch.setattr(builds, "POLL_SECONDS", 0.05)
    return tmp_path


def test_nothing_waits_outside_make_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(builds.ENV, raising=False)
    assert builds.pending(("node",)) == []
    builds.wait_for_builds("node", timeout=0)  # returns at once: no background build to wait for


def test_waits_until_the_build_ends(beside: Path) -> None:
    assert builds.pending(("medusa", "s3")) == ["medusa", "s3"]
    (beside / "s3.rc").write_text("0\n")
    timer = threading.Timer(0.3, lambda: (beside / "medusa.rc").write_text("0\n"))
    timer.start()
    builds.wait_for_builds("medusa", "s3", timeout=10)
    assert (beside / "medusa.rc").exists()
    assert builds.pending(("medusa", "s3")) == []


def test_a_failed_build_fails_the_test_with_the_end_of_its_log(beside: Path) -> None:
    (beside / "traefik.rc").write_text("2\n")
    (beside / "traefik.log").write_text("compiling\ngo: module lookup disabled\n")
    with pytest.raises(pytest.fail.Exception, match=r"(?s)traefik build failed \(exit 2\).*module lookup disabled"):
        builds.wait_for_builds("traefik", timeout=5)


def test_a_build_that_never_ends_fails_after_the_timeout(beside: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="still building after 0 min: netpol"):
        builds.wait_for_builds("netpol", timeout=0.2)


@pytest.mark.parametrize(
    ("path", "needs"),
    [
        ("tests/real_node/", ("node", "coredns", "images")),
        ("tests/store_software/test_store_order.py", ("medusa",)),
        ("tests/cluster/test_upgrades.py", ("s3",)),
        ("tests/cluster/test_lifecycle.py", ()),
    ],
)
def test_what_each_area_needs(path: str, needs: tuple[str, ...]) -> None:
    assert builds.needs_of(path) == needs
