"""scripts/flake-series.sh: every run gets its line, and one failed run fails the series."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared.portal import ROOT

SCRIPT = ROOT / "scripts" / "flake-series.sh"

pytestmark = pytest.mark.slow

# Passes on its first run and fails on its second: a flaky test in miniature.
FLAKY = """
from pathlib import Path

RUNS = Path(__file__).with_name("runs")


def test_flaky():
    runs = int(RUNS.read_text()) + 1 if RUNS.exists() else 1
    RUNS.write_text(str(runs))
    assert runs != 2, "the second run fails"
"""


def test_each_run_is_recorded_and_a_failed_run_fails_the_series(tmp_path: Path) -> None:
    (tmp_path / "test_flaky.py").write_text(FLAKY)
    out = tmp_path / "flakes"
    env = {**os.environ, "PY": sys.executable, "FLAKES_DIR": str(out), "CI": "true"}
    pytest_args = [str(tmp_path / "test_flaky.py"), "-p", "no:xdist", "--rootdir", str(tmp_path)]
    proc = subprocess.run(
        ["bash", str(SCRIPT), "3", "demo", *pytest_args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = [line.split("\t") for line in (out / "demo.tsv").read_text().splitlines()]
    assert rows[0] == ["run", "exit", "summary", "seconds"]
    assert [(run, code) for run, code, _, _ in rows[1:]] == [("1", "0"), ("2", "1"), ("3", "0")]
    assert rows[1][2].startswith("1 passed") and rows[2][2].startswith("1 failed"), rows
    assert "the second run fails" in (out / "demo-2.log").read_text()
    assert "flake-series demo: 2 of 3 runs passed" in proc.stdout
