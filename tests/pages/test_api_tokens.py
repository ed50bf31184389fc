"""The API tokens page through AppTest: create (shown once), list, revoke; admins see all."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from provisioning.identity import TOKEN_PREFIX
from provisioning.platform import Platform
from tests.pages.conftest import actor
from tests.shared.apptest import everything_shown


def shown_tokens(at: AppTest) -> list[str]:
    return [str(c.value) for c in at.code if str(c.value).startswith(TOKEN_PREFIX)]


def table_rows(at: AppTest, column: str = "Name") -> list[list[str]]:
    return [frame[column].tolist() for frame in (d.value for d in at.dataframe) if column in frame.columns]


def test_a_user_creates_a_token_sees_it_once_and_it_authenticates(
    open_page: Callable[..., AppTest], portal_env: Platform
) -> None:
    at = open_page("tokens", "alice")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["API tokens"]
    assert "You have no API tokens" in everything_shown(at)

    at.text_input(key="token_name").input("ci-deploy")
    at.selectbox(key="token_expiry").select("90 days")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error, [e.value for e in at.error]
    (token,) = shown_tokens(at)
    assert "shown only this once" in everything_shown(at)
    assert portal_env.tokens.authenticate(token) == actor(portal_env, "alice")
    assert table_rows(at) == [["ci-deploy"]]
    assert token not in at.dataframe[0].value.to_csv()
    assert "never" in at.dataframe[0].value["Last used"].tolist()

    at.run()  # any next run: the token is gone from the page for good
    assert shown_tokens(at) == [] and token not in everything_shown(at)


def test_a_bad_name_shows_the_reason_not_a_traceback(open_page: Callable[..., AppTest]) -> None:
    at = open_page("tokens", "alice")
    at.button[0].click().run()
    assert not at.exception
    assert any("Give the token a name" in e.value for e in at.error)
    assert shown_tokens(at) == []


def test_revoking_refuses_the_token_and_hides_it(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    new = portal_env.tokens.create_token(actor(portal_env, "alice"), "laptop")
    at = open_page("tokens", "alice")
    assert table_rows(at) == [["laptop"]]
    at.button(key="revoke_token").click().run()
    assert not at.exception, at.exception
    assert any("revoked" in s.value for s in at.success)
    assert "You have no API tokens" in everything_shown(at)
    at.toggle(key="show_inactive_tokens").set_value(True).run()
    assert "🚫 Revoked" in at.dataframe[0].value["Status"].tolist()
    assert portal_env.tokens.list_tokens(actor(portal_env, "alice"))[0].state() == "revoked"
    assert new.token not in everything_shown(at)


def test_users_see_only_their_own_admins_see_and_revoke_all(
    open_page: Callable[..., AppTest], portal_env: Platform
) -> None:
    portal_env.tokens.create_token(actor(portal_env, "alice"), "alices")
    bobs = portal_env.tokens.create_token(actor(portal_env, "bob"), "bobs")

    as_alice = open_page("tokens", "alice")
    assert table_rows(as_alice) == [["alices"]] and "bobs" not in everything_shown(as_alice)
    assert "Every user's tokens" not in everything_shown(as_alice)

    at = open_page("tokens", "admin")
    assert not at.exception, at.exception
    assert "You have no API tokens" in everything_shown(at)
    (owners,) = table_rows(at, "Owner")
    assert sorted(owners) == ["alice", "bob"]
    choice = at.selectbox(key="admin_revoke_token_choice")
    choice.select(bobs.info.id).run()
    at.button(key="admin_revoke_token").click().run()
    assert not at.exception, at.exception
    assert portal_env.tokens.list_tokens(actor(portal_env, "bob"))[0].state() == "revoked"
    assert table_rows(at, "Owner") == [["alice"]]
