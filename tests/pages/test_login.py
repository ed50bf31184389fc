"""The sign-in form itself (streamlit-authenticator) with our lockout on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from provisioning.platform import Platform
from tests.pages.conftest import APP
from tests.shared.apptest import submit_sign_in


def test_anonymous_session_sees_only_the_login_form(portal_env: Platform) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.dataframe
    assert "My stores" not in [t.value for t in at.title]


def test_right_password_signs_in(portal_env: Platform) -> None:
    at = submit_sign_in(AppTest.from_file(APP, default_timeout=30).run(), "alice", "alice-password-1")
    assert not at.exception
    assert at.session_state["actor"].username == "alice"
    assert "My stores" in [t.value for t in at.title]


def test_wrong_password_then_lockout(portal_env: Platform) -> None:
    at = AppTest.from_file(APP, default_timeout=30).run()
    limit = portal_env.settings.max_failed_logins
    for attempt in range(1, limit):
        submit_sign_in(at, "alice", "wrong-password")
        assert any(f"{limit - attempt} attempt" in e.value for e in at.error), [e.value for e in at.error]
    submit_sign_in(at, "alice", "wrong-password")
    assert any("locked" in e.value for e in at.error)
    fresh = submit_sign_in(AppTest.from_file(APP, default_timeout=30).run(), "alice", "alice-password-1")
    assert any("locked" in e.value for e in fresh.error)
    assert fresh.session_state["actor"] is None


def test_disabled_account_cannot_sign_in(portal_env: Platform) -> None:
    admin = portal_env.users.get_actor("admin")
    portal_env.users.set_disabled(admin, "alice", True)
    at = submit_sign_in(AppTest.from_file(APP, default_timeout=30).run(), "alice", "alice-password-1")
    assert not at.exception
    assert "actor" not in at.session_state or at.session_state["actor"] is None


@pytest.mark.parametrize("column", ["password_hash"])
def test_only_bcrypt_hashes_are_stored(portal_env: Platform, column: str, tmp_path: Path) -> None:
    import sqlite3

    db_file = portal_env.settings.database_url.removeprefix("sqlite:///")
    rows = sqlite3.connect(db_file).execute(f"SELECT username, {column} FROM users").fetchall()
    assert rows
    for username, value in rows:
        assert value.startswith("$2"), username
        assert "password" not in value
