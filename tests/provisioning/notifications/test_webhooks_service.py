"""The webhook service: validation, who sees and manages what, audit, secrets shown once."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.errors import LimitExceededError, NotFoundError, PermissionDeniedError, ValidationError
from provisioning.models import AuditEvent, Webhook, WebhookDelivery
from provisioning.notifications import signing
from provisioning.notifications.webhooks import (
    GLOBAL,
    MAX_WEBHOOKS_PER_OWNER,
    WebhookService,
    redact_url,
    validate_url,
)
from provisioning.settings import Settings

KEY = "platform-key-0123456789abcdef0123456789"
URL = "https://hooks.example.com/services/T000/B000/XXXXSECRETPATH"


@pytest.fixture
def webhooks(db: Engine, settings: Settings) -> WebhookService:
    return WebhookService(db, settings, platform_key=lambda: KEY)


def audit_rows(db: Engine) -> list[tuple[str, str, str]]:
    with Session(db) as session:
        rows = session.exec(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail)
            .where(col(AuditEvent.action).startswith("webhook."))
            .order_by(col(AuditEvent.id))
        ).all()
        return [tuple(row) for row in rows]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the URL"),
        ("ftp://example.com/x", "must start with http:// or https://"),
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("https:///path-only", "no host name"),
        ("https://user:pw@example.com/x", "no user name or password"),
        ("https://example.com:99999/x", "not a valid URL"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/x#frag", "fragment"),
        ("https://example.com/" + "x" * 2000, "too long"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_message(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as raised:
        validate_url(url)
    assert raised.value.field == "url"


def test_good_urls_pass() -> None:
    assert validate_url("  http://127.0.0.1:8080/hook  ") == "http://127.0.0.1:8080/hook"
    assert validate_url("https://[::1]/x?y=1") == "https://[::1]/x?y=1"


def test_redacted_url_hides_path_and_query() -> None:
    assert redact_url(URL) == "https://hooks.example.com/…"
    assert redact_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/"
    assert redact_url("https://[::1]:8443/x") == "https://[::1]:8443/…"


def test_user_creates_lists_and_deletes_own_webhook_audited(
    db: Engine, webhooks: WebhookService, alice: Actor, bob: Actor
) -> None:
    created = webhooks.create(alice, "Team Slack", URL, ["store.ready", "store.failed"], slack=True)
    view = created.webhook
    assert (view.scope, view.events, view.slack, view.signed) == ("alice", ["store.ready", "store.failed"], True, True)
    assert view.url == "https://hooks.example.com/…"
    # The secret is shown once and is not in the database: only a nonce is.
    assert created.signing_secret and created.signing_secret.startswith("whsec_")
    with Session(db) as session:
        row = session.get(Webhook, view.id)
        assert row is not None
        assert created.signing_secret == signing.derive_secret(KEY, row.id, row.signing_nonce)
    with db.connect() as connection:
        cells = [
            str(value)
            for table in inspect(connection).get_table_names()
            for record in connection.execute(text(f'SELECT * FROM "{table}"'))
            for value in record
        ]
    assert cells and not [cell for cell in cells if created.signing_secret in cell]
    assert [w.id for w in webhooks.list_webhooks(alice)] == [view.id]
    assert webhooks.list_webhooks(bob) == []
    with pytest.raises(NotFoundError):
        webhooks.delete(bob, view.id)
    with pytest.raises(NotFoundError):
        webhooks.send_test(bob, view.id)
    webhooks.delete(alice, view.id)
    assert webhooks.list_webhooks(alice) == []
    rows = audit_rows(db)
    assert [(actor, action) for actor, action, _ in rows] == [("alice", "webhook.create"), ("alice", "webhook.delete")]
    assert all("SECRETPATH" not in detail for _, _, detail in rows)
    assert "Team Slack" in rows[0][2]


def test_unsigned_webhook_has_no_secret(webhooks: WebhookService, alice: Actor) -> None:
    created = webhooks.create(alice, "Plain", "http://127.0.0.1:9/x", ["store.deleted"], signed=False)
    assert created.signing_secret is None and not created.webhook.signed


def test_only_admins_manage_global_webhooks_and_see_all(
    webhooks: WebhookService, admin: Actor, alice: Actor, bob: Actor
) -> None:
    with pytest.raises(PermissionDeniedError, match="administrators"):
        webhooks.create(alice, "Everything", URL, ["store.ready"], global_scope=True)
    everything = webhooks.create(admin, "Everything", URL, ["store.ready"], global_scope=True).webhook
    assert everything.scope == GLOBAL
    alices = webhooks.create(alice, "Mine", URL, ["store.failed"]).webhook
    assert [w.id for w in webhooks.list_webhooks(alice)] == [alices.id]
    assert [w.id for w in webhooks.list_webhooks(bob)] == []
    assert [(w.id, w.scope) for w in webhooks.list_webhooks(admin)] == [(everything.id, GLOBAL), (alices.id, "alice")]
    for user in (alice, bob):
        with pytest.raises(NotFoundError):
            webhooks.delete(user, everything.id)
    webhooks.send_test(admin, alices.id)  # admins may test and delete anyone's
    webhooks.delete(admin, alices.id)
    webhooks.delete(admin, everything.id)
    assert webhooks.list_webhooks(admin) == []


def test_delete_drops_pending_deliveries(db: Engine, webhooks: WebhookService, alice: Actor) -> None:
    hook = webhooks.create(alice, "Mine", URL, ["store.ready"]).webhook
    webhooks.send_test(alice, hook.id)
    with Session(db) as session:
        assert len(session.exec(select(WebhookDelivery)).all()) == 1
    webhooks.delete(alice, hook.id)
    with Session(db) as session:
        assert session.exec(select(WebhookDelivery)).all() == []


def test_events_and_name_are_validated(webhooks: WebhookService, alice: Actor) -> None:
    with pytest.raises(ValidationError, match="at least one event"):
        webhooks.create(alice, "x", URL, [])
    with pytest.raises(ValidationError, match=r"Unknown event type: store\.hacked"):
        webhooks.create(alice, "x", URL, ["store.hacked"])
    with pytest.raises(ValidationError, match="Give the webhook a name"):
        webhooks.create(alice, "  ", URL, ["store.ready"])
    # backup.failed can be subscribed to (the reconciler emits it when a backup Job fails).
    assert webhooks.create(alice, "b", URL, ["backup.failed"]).webhook.events == ["backup.failed"]


def test_per_owner_limit(webhooks: WebhookService, alice: Actor, bob: Actor) -> None:
    for n in range(MAX_WEBHOOKS_PER_OWNER):
        webhooks.create(alice, f"hook {n}", URL, ["store.ready"])
    with pytest.raises(LimitExceededError):
        webhooks.create(alice, "one too many", URL, ["store.ready"])
    webhooks.create(bob, "bob's first", URL, ["store.ready"])
