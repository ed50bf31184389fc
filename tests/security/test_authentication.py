"""Authentication: what a session that is not signed in can see, the lockout, the login
cookie's key, and how passwords are stored (completing tests/pages/test_login.py)."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import bcrypt
import jwt
import pytest
import streamlit
from sqlalchemy import inspect, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from portal.auth import COOKIE_EXPIRY_DAYS, COOKIE_NAME, _authenticator
from provisioning.actors import Actor
from provisioning.errors import AuthenticationError, SettingsError
from provisioning.local_secrets import LocalSecrets
from provisioning.models import AuditEvent, Role, SignInFailures, Store, utcnow
from provisioning.platform import Platform
from provisioning.users import UserService, _failures_key
from tests.conftest import make_settings
from tests.reliability.support import COOKIE_KEY, ROOT
from tests.security.conftest import PAGES, PASSWORDS, everything_shown, open_page, secrets_of
from tests.shared.apptest import submit_sign_in


def fresh_session() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()


# -- a session that is not signed in --------------------------------------------------------


def test_a_session_not_signed_in_sees_only_the_login_page(portal: Platform) -> None:
    store = portal.stores.create_store(portal.users.get_actor("alice"), "alices-shop")
    for query in ({}, {"id": store.id}):
        at = open_page(portal, None, None, **query)
        assert not at.exception, at.exception
        assert [t.label for t in at.text_input] == ["Username", "Password"]
        assert [b.label for b in at.button] == ["Sign in"]
        assert not at.dataframe and not at.sidebar.markdown and not at.sidebar.button
        registered = [(info.get("page_name"), str(info.get("script_path"))) for info in at._registered_pages.values()]
        assert len(registered) == 1 and registered[0][0] == "Sign in", registered
        assert "pages/" not in registered[0][1], registered
        assert not [s for s in secrets_of(store) if s in everything_shown(at)]
        for page in PAGES.values():  # no page of the portal is reachable
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page)


# -- lockout -------------------------------------------------------------------------------


def test_lockout_after_repeated_failures_with_a_clear_message(portal: Platform) -> None:
    limit = portal.settings.max_failed_logins
    at = fresh_session()
    messages = [
        " ".join(e.value for e in submit_sign_in(at, "alice", f"wrong-password-{i}").error) for i in range(limit)
    ]
    assert all("incorrect" in m for m in messages[:-1]), messages
    locked = messages[-1]
    assert f"locked for {portal.settings.lockout_minutes} more minutes" in locked, locked
    # The right password is refused while locked, in this session and in a new one.
    for session in (at, fresh_session()):
        submit_sign_in(session, "alice", PASSWORDS["alice"])
        assert any("locked" in e.value for e in session.error)
        assert session.session_state["actor"] is None
        assert not session.dataframe
    # Another user is not affected; the lock is audited.
    other = submit_sign_in(fresh_session(), "bob", PASSWORDS["bob"])
    assert other.session_state["actor"].username == "bob"
    with Session(portal.db) as session:
        locks = session.exec(select(AuditEvent).where(AuditEvent.action == "user.locked")).all()
        assert [e.actor for e in locks] == ["alice"]
        # Once the lock has run out, the right password works again.
        session.execute(
            update(SignInFailures)
            .where(SignInFailures.key == _failures_key("alice"))
            .values(locked_until=utcnow() - timedelta(1))
        )
        session.commit()
    again = submit_sign_in(fresh_session(), "alice", PASSWORDS["alice"])
    assert again.session_state["actor"].username == "alice"


def test_lockout_is_kept_in_the_database(users: UserService, alice: Actor, db: Engine) -> None:
    """On SQLite and PostgreSQL: the count survives sessions and processes (it is a table row)."""
    for _ in range(users.settings.max_failed_logins):
        with pytest.raises(AuthenticationError):
            users.authenticate("alice", "not-her-password")
    restarted = UserService(db, users.settings)  # a new process would see the same row
    with pytest.raises(AuthenticationError, match="locked"):
        restarted.authenticate("alice", "alice-password-1")


# -- the login cookie ----------------------------------------------------------------------


class CookieJar:
    """Stands in for st.context: the cookies a browser would send with the session."""

    def __init__(self, cookies: dict[str, str]) -> None:
        self.cookies = cookies

    def __getattr__(self, name: str) -> Any:
        return getattr(streamlit.runtime.context.ContextProxy(), name)


def token(username: str, key: str, *, issued_days_ago: float = 0) -> str:
    expires = utcnow() + timedelta(days=COOKIE_EXPIRY_DAYS - issued_days_ago)
    return jwt.encode({"username": username, "exp_date": expires.timestamp()}, key, algorithm="HS256")


def unsigned(username: str) -> str:
    """A token with "alg": "none" and no signature."""
    import base64
    import json

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'username': username, 'exp_date': 9e9})}."


def test_the_cookie_key_comes_from_settings(portal: Platform) -> None:
    assert portal.settings.cookie_key == COOKIE_KEY
    assert portal.cookie_key() == COOKIE_KEY
    model = _authenticator(portal).cookie_controller.cookie_model
    assert model.cookie_key == COOKIE_KEY and model.cookie_name == COOKIE_NAME


@pytest.mark.parametrize(
    ("cookie", "signed_in"),
    [
        (lambda: token("alice", COOKIE_KEY), "alice"),
        (lambda: token("alice", "another-key-of-32-characters-at-least"), None),
        (lambda: token("admin", "some_key"), None),  # streamlit-authenticator's default key
        (lambda: token("alice", COOKIE_KEY)[:-4] + "AAAA", None),  # tampered signature
        (lambda: unsigned("admin"), None),
    ],
    ids=["signed-with-the-settings-key", "other-key", "library-default-key", "tampered", "alg-none"],
)
def test_only_a_cookie_signed_with_the_settings_key_signs_in(
    portal: Platform, monkeypatch: pytest.MonkeyPatch, cookie: Any, signed_in: str | None
) -> None:
    monkeypatch.setattr(streamlit, "context", CookieJar({COOKIE_NAME: cookie()}))
    at = fresh_session()
    assert not at.exception, at.exception
    actor = at.session_state["actor"] if "actor" in at.session_state else None  # noqa: SIM401 (not a dict)
    assert (actor.username if actor else None) == signed_in
    if signed_in is None:  # the login page still works, and so does the password
        assert [t.label for t in at.text_input] == ["Username", "Password"]
        assert not at.error, [e.value for e in at.error]
        assert submit_sign_in(at, "bob", PASSWORDS["bob"]).session_state["actor"].username == "bob"


def test_a_valid_cookie_of_a_disabled_user_signs_nobody_in(portal: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    portal.users.set_disabled(portal.users.get_actor("admin"), "alice", True)
    monkeypatch.setattr(streamlit, "context", CookieJar({COOKIE_NAME: token("alice", COOKIE_KEY)}))
    at = fresh_session()
    assert not at.exception
    assert at.session_state["actor"] is None if "actor" in at.session_state else True
    assert not at.dataframe


def test_without_a_cookie_key_setting_one_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, cookie_key="")
    platform = Platform.build(settings)
    key = platform.cookie_key()
    assert len(key) >= 32
    assert Platform.build(settings).cookie_key() == key, "the key must survive a restart"
    secrets_file = Path(settings.local_secrets_file)
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert LocalSecrets(secrets_file).get_or_create("COOKIE_KEY", lambda: "never") == key
    with pytest.raises(SettingsError, match="at least 32"):
        make_settings(tmp_path, cookie_key="short-key")


# -- passwords at rest ---------------------------------------------------------------------


def test_only_bcrypt_hashes_are_stored(real_bcrypt: None, users: UserService, admin: Actor, db: Engine) -> None:
    """SQLite and PostgreSQL: every column of every table, as text, holds no password."""
    passwords = {"first-admin-password": "admin", "alice-password-1": "alice", "Zz9!unusual pass": "carol"}
    users.create_user(admin, "alice", "alice-password-1", role=Role.USER)
    users.create_user(admin, "carol", "Zz9!unusual pass", role=Role.ADMIN)
    users.reset_password(admin, "carol", "Zz9!unusual pass")
    with db.connect() as connection:
        tables = inspect(connection).get_table_names()
        assert {"users", "stores", "audit_events"} <= set(tables)
        cells = [
            str(value)
            for table in tables
            for row in connection.execute(text(f'SELECT * FROM "{table}"'))
            for value in row
            if value is not None
        ]
        hashes = dict(connection.execute(text("SELECT username, password_hash FROM users")).all())
    for password in passwords:
        assert not any(password in cell for cell in cells), "a password is stored in plain text"
    for password, username in passwords.items():
        stored = hashes[username]
        assert stored.startswith("$2b$") and len(stored) == 60, stored
        assert bcrypt.checkpw(password.encode(), stored.encode())
        assert int(stored.split("$")[2]) >= 12, "bcrypt cost below 12"
    assert not [c for c in Store.__table__.columns.keys() if "password" in c or "secret" in c]  # noqa: SIM118
