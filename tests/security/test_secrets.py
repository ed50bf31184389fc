"""Secrets stay in the store's Kubernetes Secret: never in a log line, never in the database.

A full lifecycle on the real control plane and PostgreSQL, driven as a user drives it
(the New store form, the store page's Reveal button and Live details, the Delete form,
through AppTest) and by the real reconciler, with every logger of the process at DEBUG
(the platform's own, kubernetes, urllib3, sqlalchemy, streamlit). Before the deletion the
generated values are read from the store's Secret; afterwards the captured logs, the
process's stdout/stderr and every column of every table are searched for each of them,
plain and base64-encoded.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.logging_setup import configure_logging
from provisioning.models import StoreStatus
from tests.reliability.support import StorePlatform, capture_logs, wait_until
from tests.security.conftest import open_page
from tests.shared.apptest import portal_navigation
from tests.shared.portal import ADMIN_PASSWORD, COOKIE_KEY, set_env
from tests.shared.portal import portal_env as environment

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]

# Shown on the store page by design (it is the store row's admin_user), so not a secret.
NOT_SECRET_KEYS = {"wordpress-admin-user"}


@pytest.fixture
def portal_env(pg_platform: StorePlatform, control_plane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(
        tmp_path,
        database_url=pg_platform.settings.database_url,
        kubeconfig=control_plane.kubeconfig,
        LOCAL_SECRETS_FILE=str(tmp_path / "portal-secrets.env"),
        LOG_LEVEL="DEBUG",
    )
    set_env(monkeypatch, env)


@pytest.fixture
def navigation() -> Iterator[None]:
    with portal_navigation():
        yield


def forms_of(value: str) -> list[str]:
    """The ways a value could show up: as is, base64 (Secret data), and URL-safe base64."""
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]


def test_no_secret_in_logs_or_database_over_a_full_lifecycle(
    pg_platform: StorePlatform,
    control_plane: Any,
    portal_env: None,
    navigation: None,
    capfd: pytest.CaptureFixture[str],
) -> None:
    platform = pg_platform
    assert platform.kube is not None
    configure_logging()  # as the portal and worker do, before we turn every logger up to DEBUG
    reconciler = platform.make_reconciler("secrets-test")
    name = f"secret-{uuid.uuid4().hex[:5]}"

    def drive(until: str, timeout: float = 120) -> None:
        def reached() -> bool:
            if platform.stores.list_stores(platform.alice, include_deleted=True)[0].status == until:
                return True
            reconciler.run_once()
            return False

        wait_until(reached, timeout=timeout, what=f"the store to be {until}")

    with capture_logs(logging.DEBUG, every_logger=True) as logs:
        # Order it through the New store form.
        page = open_page(platform_portal(), "new", "alice")
        page.text_input(key="new_store_name").input(name).run()
        page.button(key="create_store").click().run()
        assert not page.exception and not page.error, [e.value for e in page.error]
        store = next(s for s in platform.stores.list_stores(platform.alice) if s.name == name)
        platform.created.append(platform.stores.get_store(platform.alice, store.id))
        drive(StoreStatus.READY)

        # Reveal the admin password and load the live details on the store page.
        page = open_page(platform_portal(), "store", "alice", id=store.id)
        page.button(key="reveal").click().run()
        revealed = [c.value for c in page.code]
        page.button(key="load_insight").click().run()
        assert not page.exception, page.exception
        secret = {key: base64.b64decode(value).decode() for key, value in platform.secret_data(store.namespace).items()}
        assert revealed == [secret["wordpress-admin-password"]]
        assert platform.stores.reveal_admin_password(platform.alice, store.id) == revealed[0]

        # Delete it through the Delete form, and let the reconciler finish.
        page.text_input(key="confirm_delete").input(name).run()
        page.button(key="delete").click().run()
        assert not page.exception
        drive(StoreStatus.DELETED)
        wait_until(
            lambda: platform.kube is not None and platform.kube.get("v1", "Namespace", store.namespace) is None,
            timeout=60,
            what="the namespace to be gone",
        )

    secrets = {key: value for key, value in secret.items() if key not in NOT_SECRET_KEYS}
    secrets |= {"ADMIN_PASSWORD": ADMIN_PASSWORD, "COOKIE_KEY": COOKIE_KEY, "alice's password": "alice-password-1"}
    assert len(secrets) >= 13 and all(len(v) >= 16 for v in secrets.values()), {k: len(v) for k, v in secrets.items()}
    log_text = logs.text()
    output = capfd.readouterr()
    streams = {"logs": log_text, "stdout": output.out, "stderr": output.err}
    cells = platform.dump_database()
    found = [
        f"{key} in {where}"
        for key, value in secrets.items()
        for form in forms_of(value)
        for where, content in streams.items()
        if form in content
    ]
    found += [
        f"{key} in {table}.{column}"
        for key, value in secrets.items()
        for form in forms_of(value)
        for table, column, cell in cells
        if form in cell
    ]
    loggers = {record.name.split(".")[0] for _, record, _ in logs.records}
    print(
        f"\nsecrets check: {len(secrets)} secret values x 3 encodings searched in {len(logs.records)} log records "
        f"({len(log_text)} characters, loggers {sorted(loggers)}), {len(output.out) + len(output.err)} characters "
        f"of stdout/stderr and {len(cells)} database cells: {len(found)} found"
    )
    assert not found, found
    # The capture did see the work: requests to the API server and SQL, at DEBUG.
    assert {"provisioning", "urllib3", "sqlalchemy"} <= loggers, loggers
    assert "store-credentials" in log_text, "the Secret's requests were not captured"


def platform_portal() -> Any:
    from provisioning.platform import shared_platform

    return shared_platform()
