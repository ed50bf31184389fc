"""pytest plugin: at the end of the run, say which real components ran and where the time
went.

- Real components: fixtures that start one call ``record_component`` (the control plane:
  the API server's version; PostgreSQL; Chromium); any other test may use the
  ``real_components`` fixture, e.g. ``real_components.record("Medusa", "2.21.2")``.
- Phases: ``make test`` times installing dependencies, the control-plane build and lint,
  and writes them to the file named by STORE_PLATFORM_PHASES (``name<TAB>seconds``);
  they are printed with the tests' own time by group (setup + call + teardown).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS_KEY = pytest.StashKey[dict[str, str]]()
# The group a test's time is counted in: its first marker in this order, else "unit".
GROUP_ORDER = ("store_software", "real_node", "browser", "cluster", "postgres", "process", "slow", "apptest")


def record_component(config: pytest.Config, name: str, version: str) -> None:
    """Note that a real component ran in this session, with its version."""
    config.stash.setdefault(COMPONENTS_KEY, {})[name] = version


class Components:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def record(self, name: str, version: str) -> None:
        record_component(self.config, name, version)


@pytest.fixture(scope="session")
def real_components(pytestconfig: pytest.Config) -> Components:
    """``real_components.record(name, version)``: listed in the run's final summary."""
    return Components(pytestconfig)


def group_of(item: pytest.Item) -> str:
    names = {mark.name for mark in item.iter_markers()}
    return next((group for group in GROUP_ORDER if group in names), "unit")


class Timings:
    def __init__(self) -> None:
        self.groups: dict[str, str] = {}
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.tests: defaultdict[str, set[str]] = defaultdict(set)
        self.started = time.monotonic()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.groups = {item.nodeid: group_of(item) for item in items}
        for item in items:  # carried by the reports to pytest-xdist's controller, which collects nothing
            item.user_properties.append((GROUP_PROPERTY, self.groups[item.nodeid]))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        group = dict(report.user_properties).get(GROUP_PROPERTY) or self.groups.get(report.nodeid, "unit")
        self.groups.setdefault(report.nodeid, group)
        self.seconds[group] += report.duration
        self.tests[group].add(report.nodeid)


TIMINGS_KEY = pytest.StashKey[Timings]()
GROUP_PROPERTY = "store_platform_group"
WORKER_COMPONENTS = "store_platform_components"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: hand the components it ran to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output[WORKER_COMPONENTS] = json.dumps(session.config.stash.get(COMPONENTS_KEY, {}))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """On pytest-xdist's controller: the components each worker ran join the summary."""
    output = getattr(node, "workeroutput", {}) or {}
    components = json.loads(output.get(WORKER_COMPONENTS, "{}"))
    config = getattr(node, "config", None)
    if config is not None and components:
        config.stash.setdefault(COMPONENTS_KEY, {}).update(components)


def pytest_configure(config: pytest.Config) -> None:
    timings = config.stash[TIMINGS_KEY] = Timings()
    config.pluginmanager.register(timings, "store-platform-timings")


def _medusa_version() -> str | None:
    """The Medusa build the store_software tests ran (tools/medusa/build.sh's cache)."""
    script = ROOT / "tools" / "medusa" / "build.sh"
    if not script.exists():
        return None
    try:
        done = subprocess.run([str(script), "--print"], capture_output=True, text=True, timeout=30)
        server = Path(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else None
        if server is None:
            return None
        package = json.loads((server / "node_modules" / "@medusajs" / "medusa" / "package.json").read_text())
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None
    return f"@medusajs/medusa {package.get('version', '?')} ({server.parent.name})"


def _phases() -> list[tuple[str, float]]:
    path = os.environ.get("STORE_PLATFORM_PHASES")
    if not path or not Path(path).exists():
        return []
    rows = []
    for line in Path(path).read_text().splitlines():
        name, _, seconds = line.partition("\t")
        try:
            rows.append((name, float(seconds)))
        except ValueError:
            continue
    return rows


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    timings = config.stash.get(TIMINGS_KEY, None)
    if timings is None or not timings.groups:
        return
    write = terminalreporter.write_line
    terminalreporter.section("real components and time")
    components = config.stash.get(COMPONENTS_KEY, {})
    if "Medusa" not in components and timings.seconds.get("store_software"):
        medusa = _medusa_version()
        if medusa:
            components["Medusa"] = medusa
    for name in ("Kubernetes API server", "PostgreSQL", "Chromium", "Medusa", "Object store"):
        write(f"  {name:<22} {components.get(name, 'not run')}")
    for name, version in sorted(components.items()):
        if name not in ("Kubernetes API server", "PostgreSQL", "Chromium", "Medusa", "Object store"):
            write(f"  {name:<22} {version}")
    phases = _phases()
    if phases:
        write('  build phases (wall time; those "beside the tests" overlapped them):')
        for name, seconds in phases:
            write(f"    {name:<36} {seconds:7.1f}s")
    write(f"  tests by group (setup + call + teardown; a test counts in its first group of {', '.join(GROUP_ORDER)}):")
    for group, seconds in sorted(timings.seconds.items(), key=lambda kv: -kv[1]):
        write(f"    {group:<30} {seconds:7.1f}s  {len(timings.tests[group]):4d} tests")
    write(f"    {'pytest wall clock':<30} {time.monotonic() - timings.started:7.1f}s")
