"""Property-based tests over the portal's forms, driven through Streamlit's AppTest.

The service layer has its own (tests/provisioning/test_properties.py); these go one
level up, through app.py and the pages as a user's browser drives them, with
hypothesis-generated input: names with unicode, control characters, very long strings,
SQL/HTML/shell metacharacters, whitespace, empty. Values are set with `set_value`, which
skips the browser's max_chars, as a hostile client would (Streamlit still cuts the value to
max_chars on the server). For every example: no
exception reaches the page; either a row is created (and nothing else) or an inline
error is shown and nothing at all is written. `-s` prints how many examples ran.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from provisioning.models import AuditEvent, Store, User
from provisioning.names import MAX_LENGTH
from provisioning.platform import Platform
from tests.shared.apptest import APP, PAGES, portal_navigation
from tests.shared.examples import examples
from tests.shared.portal import build_platform, portal_env, set_env

NASTY = [
    "",
    " ",
    "\t",
    "  my-shop",
    "my-shop ",
    "shop\x00",
    "sh\nop",
    "sh\rop",
    "\x1b[31mred",
    "'; DROP TABLE stores; --",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "$(rm -rf /)",
    "`id`",
    "a;ls",
    "a|b",
    "a" * 10_000,
    "ü" * 31,
    "ünïcödé",
    "\u202eevil",
    "shop\u200b",
    "ｓｈｏｐ",  # fullwidth
    "../../etc/passwd",
    "%00",
    "{{7*7}}",
    "-shop",
    "shop-",
    "sh--op",
    "admin",
    "kube-system",
    "My-Shop",
    "my_shop",
    "ab",
    "a" * 31,
]
INPUTS = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=60),
    st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=0, max_size=35),
    st.text(alphabet=string.printable, max_size=40),
)
PROFILE = settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
COUNTS: dict[str, int] = {}
OUTCOMES: dict[str, dict[str, int]] = {}


@pytest.fixture
def portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    # Room for every valid example: the limits are tested elsewhere.
    env = portal_env(tmp_path, MAX_STORES_PER_USER="100000", MAX_CREATES_PER_HOUR="100000")
    set_env(monkeypatch, env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'forms.db'}"})
    platform = build_platform(users=("alice",))
    with portal_navigation():
        yield platform


def snapshot(platform: Platform) -> tuple[int, int, int]:
    with Session(platform.db) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one() for model in (Store, AuditEvent, User)
        )


def signed_in(platform: Platform, username: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["actor"] = platform.users.get_actor(username)
    return at.run()


def count(test: str, outcome: str) -> None:
    COUNTS[test] = COUNTS.get(test, 0) + 1
    OUTCOMES.setdefault(test, {}).setdefault(outcome, 0)
    OUTCOMES[test][outcome] += 1


def test_new_store_form_creates_a_store_or_shows_an_inline_error(portal: Platform) -> None:
    at = signed_in(portal, "alice")
    alice = portal.users.get_actor("alice")

    @PROFILE
    @given(name=INPUTS, engine=st.sampled_from(["woocommerce", "medusa"]))
    def example(name: str, engine: str) -> None:
        at.switch_page(PAGES["new"]).run()
        assert not at.exception, at.exception
        before = snapshot(portal)
        at.text_input(key="new_store_name").set_value(name)
        at.radio(key="new_store_engine").set_value(engine)
        at.run()
        assert not at.exception, at.exception
        at.button(key="create_store").click().run()
        assert not at.exception, at.exception
        after = snapshot(portal)
        if after == before:
            errors = [e.value for e in at.error]
            assert errors, f"nothing created for {name!r} ({engine}) and no error shown"
            assert all(e and "Traceback" not in e and "went wrong" not in e for e in errors), errors
            count("new store", "inline error")
            return
        # Created: exactly one store and its audit event, and the store's page is shown.
        # Streamlit enforces the field's max_chars on the server too: a longer value from
        # a client that ignores it arrives cut to 30 characters, and is validated as such.
        typed = name[:MAX_LENGTH]
        assert after == (before[0] + 1, before[1] + 1, before[2]), (before, after)
        created = [s for s in portal.stores.list_stores(alice) if s.name == typed and s.status != "deleting"]
        assert len(created) == 1, (typed, [s.name for s in portal.stores.list_stores(alice)])
        assert created[0].engine == engine, (created[0].engine, engine)  # both engines are orderable
        assert f"Store {typed}" in [t.value for t in at.title]
        portal.stores.delete_store(alice, created[0].id)
        count("new store", "created")

    example()


def test_admin_create_user_form_creates_a_user_or_shows_an_error(portal: Platform) -> None:
    at = signed_in(portal, "admin")
    at.switch_page(PAGES["admin"]).run()

    def field(label: str) -> object:
        return next(t for t in at.text_input if t.label == label)

    @PROFILE
    @given(
        username=INPUTS,
        password=st.one_of(INPUTS, st.text(min_size=10, max_size=80)),
        role=st.sampled_from(["user", "admin"]),
    )
    def example(username: str, password: str, role: str) -> None:
        at.run()
        assert not at.exception, at.exception
        before = snapshot(portal)
        field("Username").set_value(username)  # type: ignore[attr-defined]
        field("Initial password").set_value(password)  # type: ignore[attr-defined]
        next(s for s in at.selectbox if s.label == "Role").set_value(role)
        next(b for b in at.button if b.label == "Create user").click().run()
        assert not at.exception, at.exception
        after = snapshot(portal)
        shown = [e.value for e in at.error] + [s.value for s in at.success]
        if len(password) >= 10 and password.strip() and password not in username:
            assert not any(password in text for text in shown), "the password was echoed on the page"
        if after == before:
            errors = [e.value for e in at.error]
            assert errors, f"no user {username!r} created and no error shown"
            assert all("Traceback" not in e and "went wrong" not in e for e in errors), errors
            count("create user", "inline error")
            return
        assert after == (before[0], before[1] + 1, before[2] + 1), (before, after)
        created = next(u for u in portal.users.list_users(portal.users.get_actor("admin")) if u.username == username)
        assert created.role == role and created.password_hash.startswith("$2")
        assert [s.value for s in at.success] == [f"User {username} created."]
        count("create user", "created")

    example()


def teardown_module() -> None:
    print(f"\nform examples run: {COUNTS} (total {sum(COUNTS.values())}); outcomes: {OUTCOMES}")
