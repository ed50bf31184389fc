"""Shared fixtures, the CI rule (a skipped test is a failure when CI=true) and `--fast`.

Tests that need a component (control plane, PostgreSQL, Chromium, store software) skip
locally with a reason; in CI the component must be there, so the skip is turned into a
failure. `--fast` (make test-fast) keeps only the tests that need none of them.
Helpers shared by every package are in tests/shared (waiting, portal environment and
users, AppTest pages, the portal process, a platform on the control plane).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from sqlalchemy.engine import Engine

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.fakes import Clock
from tests.shared.platform import StorePlatform, stop_watches
from tests.shared.portal import create_users, make_settings
from tests.shared.sqlite_template import migrated_sqlite_url

pytest_plugins = [
    "tests.shared.report",
    "tests.harness.pytest_plugin",
    "tests.postgres_plugin",
    "tests.shared.browser",
    "pytester",
]

# Markers that do not make a test heavy. Every other registered marker (cluster, postgres,
# browser, slow, store_software, real_node, and any marker added later) names something a
# fast run does without, so `--fast` leaves its tests out.
LIGHT_MARKERS = frozenset(
    {"parametrize", "filterwarnings", "skip", "skipif", "xfail", "usefixtures", "timeout", "hypothesis"}
)
# Fixtures that start a real component: a test using one is heavy even without a marker.
HEAVY_FIXTURES = frozenset({"control_plane", "kube_api", "postgres_server_url", "chromium", "restartable_postgres"})

STRICT_SKIPS = (
    os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("STORE_PLATFORM_STRICT_SKIPS") == "1"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="only tests that need no control plane, PostgreSQL, browser, store software or other heavy marker",
    )
    parser.addoption(
        "--pages",
        action="store_true",
        help="with --fast: keep the page tests (Streamlit AppTest, marker apptest) too",
    )


# Where a module's names come from when it renders pages with AppTest: such a module's tests
# get the `apptest` marker (added here, so a new page test needs nothing to be classed).
APPTEST_SOURCES = ("streamlit.testing", "tests.shared.apptest", "tests.security.conftest")
PAGE_TESTS = Path(__file__).parent / "pages"


def uses_apptest(item: pytest.Item) -> bool:
    if PAGE_TESTS in item.path.parents:
        return True
    module = getattr(item, "module", None)
    names = vars(module).values() if module is not None else ()
    return any(str(getattr(value, "__module__", "")).startswith(APPTEST_SOURCES) for value in names)


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fast"):
        os.environ["STORE_PLATFORM_FAST"] = "1"  # property tests run fewer examples (tests/shared/examples.py)


def is_heavy(item: pytest.Item, *, light: frozenset[str] = LIGHT_MARKERS) -> bool:
    if any(mark.name not in light for mark in item.iter_markers()):
        return True
    return bool(HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test`'s `--dist loadgroup`: the packages that share a session's servers run whole
    on one worker (tests/shared/scheduling.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.shared.scheduling import SharedServerScheduling

    return SharedServerScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_apptest(item):
            item.add_marker(pytest.mark.apptest)
    if config.getoption("--fast"):
        light = LIGHT_MARKERS | {"apptest"} if config.getoption("--pages") else LIGHT_MARKERS
        heavy = [item for item in items if is_heavy(item, light=light)]
        if heavy:
            config.hook.pytest_deselected(items=heavy)
            items[:] = [item for item in items if not is_heavy(item, light=light)]
        return
    # The control plane and PostgreSQL start in the background once collection is done
    # (tests/harness/pytest_plugin.py, tests/postgres_plugin.py): run the modules that need
    # no server first, so the servers come up meanwhile. Whole modules move, in their order.
    needs_server: dict[str, bool] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        needs_server[module] = needs_server.get(module, False) or is_heavy(item, light=LIGHT_MARKERS | {"apptest"})
    items.sort(key=lambda item: needs_server[item.nodeid.split("::")[0]])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if STRICT_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"Skipped under CI=true, which counts as a failure: {reason}"


_gensalt = bcrypt.gensalt


@pytest.fixture(autouse=True, scope="session")
def fast_bcrypt() -> Iterator[None]:
    """Cheap password hashes (cost 4 instead of bcrypt's 12: about 1 ms instead of 250 ms
    each, and most tests create three users) in this process, from the session's start so
    that module-scoped fixtures get them too. A portal started by a test then checks those
    users' passwords at cost 4 as well (bcrypt reads the cost from the hash), which keeps
    API tests from spending a quarter second of CPU per call. The tests of the cost factor
    itself use `real_bcrypt`; hashes a portal or worker subprocess makes are at the real cost."""
    patch = pytest.MonkeyPatch()
    patch.setattr(bcrypt, "gensalt", lambda rounds=4, prefix=b"2b": _gensalt(4, prefix))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def watches_end_with_the_test() -> Iterator[None]:
    """A test's reconciler drivers stop their watch threads when it ends (tests/shared/platform.py)."""
    yield
    stop_watches()


@pytest.fixture(autouse=True, scope="session")
def component_manifests_scanned_once() -> Iterator[None]:
    """Every new AppTest scans all installed distributions for Streamlit component
    manifests (about a second of CPU each, most of the page tests' time). The installed
    set does not change during a run, so the scan's answer is kept for the session."""
    from streamlit.components.v2 import manifest_scanner

    scan = manifest_scanner.scan_component_manifests
    answer: list[Any] = []

    def scan_once(max_workers: int | None = None) -> list[Any]:
        if not answer:
            answer.append(scan(max_workers))
        return list(answer[0])

    patch = pytest.MonkeyPatch()
    patch.setattr(manifest_scanner, "scan_component_manifests", scan_once)
    yield
    patch.undo()


@pytest.fixture
def clock() -> Clock:
    """The time the reconciler and the webhook dispatcher see, moved by the test."""
    return Clock()


@pytest.fixture
def real_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at the product's real cost, for a test that checks it (list it before the
    fixtures that create users)."""
    monkeypatch.setattr(bcrypt, "gensalt", _gensalt)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every database test runs on the embedded SQLite and on a real PostgreSQL."""
    if request.param == "postgres":
        return str(request.getfixturevalue("migrated_postgres_url"))
    return migrated_sqlite_url(tmp_path / "test.db")


@pytest.fixture
def unmigrated_database_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> str:
    """`database_url`'s kind of database without the schema (both come migrated): for migration tests."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def users(db: Engine, settings: Settings) -> UserService:
    """The user service with the first admin; more users with `create_users` (tests/shared/portal.py)."""
    service = UserService(db, settings)
    service.ensure_first_admin()
    return service


@pytest.fixture
def admin(users: UserService) -> Actor:
    return users.get_actor("admin")


@pytest.fixture
def alice(users: UserService, admin: Actor) -> Actor:
    return create_users(users, "alice")["alice"]


@pytest.fixture
def bob(users: UserService, admin: Actor) -> Actor:
    return create_users(users, "bob")["bob"]


@pytest.fixture
def pg_platform(tmp_path: Path, postgres_url: str, control_plane: Any) -> Iterator[StorePlatform]:
    """A StorePlatform on a fresh PostgreSQL database and the session's real control plane."""
    platform = StorePlatform(tmp_path, postgres_url, control_plane.kubeconfig)
    try:
        yield platform
    finally:
        platform.cleanup()
