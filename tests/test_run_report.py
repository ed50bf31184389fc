"""`make test`'s closing report (tests/shared/report.py) under pytest-xdist: the
components and group times are gathered from the workers, which do all the running."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_report_lists_what_the_xdist_workers_ran(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("STORE_PLATFORM_PHASES", raising=False)
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    pytester.makepyfile(
        test_two_groups="""
import pytest

def test_records_a_component(real_components):
    real_components.record("Object store", "versitygw from a worker")

@pytest.mark.slow
def test_in_the_slow_group():
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "tests.shared.report", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*Object store*versitygw from a worker*"])
    result.stdout.fnmatch_lines(["*slow *1 tests*"])  # the groups are listed by time, in any order here
    result.stdout.fnmatch_lines(["*unit *1 tests*"])
