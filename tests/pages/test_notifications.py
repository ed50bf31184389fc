"""The Notifications page through AppTest: add (secret shown once), bad input, test event
and its recorded result, delete; users see their own webhooks, admins all and global ones."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from provisioning.models import WebhookDelivery
from provisioning.platform import Platform
from tests.pages.conftest import actor
from tests.shared.apptest import everything_shown
from tests.shared.servers import free_port


def click(at: AppTest, label: str) -> AppTest:
    [button] = [b for b in at.button if b.label == label]
    return button.click().run()


def secrets_shown(at: AppTest) -> list[str]:
    return [str(c.value) for c in at.code if str(c.value).startswith("whsec_")]


def names(at: AppTest) -> list[str]:
    return [name for frame in (d.value for d in at.dataframe) if "Name" in frame.columns for name in frame["Name"]]


def test_a_user_adds_tests_and_deletes_a_webhook(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    at = open_page("notifications", "alice")
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Notifications"]
    assert "No webhooks yet" in everything_shown(at)
    assert not [t for t in at.toggle if t.key == "webhook_global"]  # global ones are for admins

    url = f"http://127.0.0.1:{free_port()}/hooks/T000/SECRETPATH"
    at.text_input(key="webhook_name").input("Team Slack")
    at.text_input(key="webhook_url").input(url)
    at.toggle(key="webhook_slack").set_value(True)
    click(at, "Add webhook")
    assert not at.exception and not at.error, [e.value for e in at.error]
    [secret] = secrets_shown(at)
    assert "shown only this once" in everything_shown(at)
    assert names(at) == ["Team Slack"]
    table = at.dataframe[0].value
    assert table["URL"].tolist() == [f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}/…"]
    assert table["Format"].tolist() == ["Slack"]
    assert table["Events"].tolist() == ["store.ready, store.failed, store.degraded"]
    assert "SECRETPATH" not in everything_shown(at)
    at.run()
    assert secrets_shown(at) == [] and secret not in everything_shown(at)

    click(at, "Send test event")
    assert not at.exception, at.exception
    assert any("Test event queued" in s.value for s in at.success)
    # Deliver it (nothing listens on that port) as the worker's dispatcher would.
    [outcome] = portal_env.make_dispatcher().deliver_due()
    assert outcome.status_code is None
    at.run()
    [last] = at.dataframe[0].value["Last delivery"].tolist()
    assert last.startswith("🔁 Retrying (webhook.test, connection") and last.endswith("attempt 1)")

    click(at, "Delete webhook")
    assert not at.exception, at.exception
    assert "No webhooks yet" in everything_shown(at)
    with Session(portal_env.db) as session:
        assert session.exec(select(WebhookDelivery)).all() == []


def test_bad_url_shows_the_reason_not_a_traceback(open_page: Callable[..., AppTest]) -> None:
    at = open_page("notifications", "alice")
    at.text_input(key="webhook_name").input("x")
    at.text_input(key="webhook_url").input("ftp://example.com/x")
    click(at, "Add webhook")
    assert not at.exception
    assert [e.value for e in at.error] == ["The URL must start with http:// or https://."]
    assert names(at) == []


def test_users_see_their_own_and_admins_see_all(open_page: Callable[..., AppTest], portal_env: Platform) -> None:
    hooks = portal_env.webhooks
    hooks.create(actor(portal_env, "alice"), "alice hook", "https://a.example.com/x", ["store.ready"])
    hooks.create(actor(portal_env, "bob"), "bob hook", "https://b.example.com/x", ["store.failed"])
    hooks.create(actor(portal_env, "admin"), "ops", "https://ops.example.com/x", ["store.failed"], global_scope=True)
    assert names(open_page("notifications", "alice")) == ["alice hook"]
    assert names(open_page("notifications", "bob")) == ["bob hook"]

    at = open_page("notifications", "admin")
    assert names(at) == ["ops", "alice hook", "bob hook"]
    assert at.dataframe[0].value["For"].tolist() == ["all stores", "alice", "bob"]
    at.text_input(key="webhook_name").input("ops 2")
    at.text_input(key="webhook_url").input("https://ops2.example.com/x")
    at.toggle(key="webhook_global").set_value(True)
    at.toggle(key="webhook_signed").set_value(False)
    click(at, "Add webhook")
    assert not at.exception and not at.error
    assert secrets_shown(at) == []
    assert any("Webhook 'ops 2' added." in s.value for s in at.success)
    assert names(at) == ["ops", "ops 2", "alice hook", "bob hook"]
