"""Event bodies, pure: what a store event carries, what it never carries, the Slack shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from provisioning.engines import get_engine
from provisioning.errors import SettingsError
from provisioning.lifecycle.decisions import spec_for
from provisioning.models import Store
from provisioning.notifications import events, signing
from provisioning.notifications.dispatcher import backoff
from provisioning.settings import Settings

AT = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)


def store(engine: str = "woocommerce", **values: str) -> Store:
    row = Store(
        id="a" * 32,
        name="shop-one",
        engine=engine,
        owner_id=7,
        namespace="store-shop-one-aaaaaaaa",
        status="ready",
        health="working",
        url="http://shop-one.stores.localhost",
        message="Ready: open http://shop-one.stores.localhost",
        admin_user="shop-one-admin",
    )
    for key, value in values.items():
        setattr(row, key, value)
    return row


def test_store_event_has_the_documented_fields() -> None:
    payload = events.store_event(events.STORE_READY, store(), "alice", at=AT, event_id="e" * 32)
    assert payload == {
        "id": "e" * 32,
        "type": "store.ready",
        "occurred_at": "2026-11-27T12:30:00Z",
        "store": {
            "id": "a" * 32,
            "name": "shop-one",
            "engine": "woocommerce",
            "status": "ready",
            "health": "working",
            "url": "http://shop-one.stores.localhost",
            "message": "Ready: open http://shop-one.stores.localhost",
            "owner": "alice",
        },
    }


@pytest.mark.parametrize("engine", ["woocommerce", "medusa"])
def test_no_generated_secret_reaches_a_payload(engine: str) -> None:
    """The engine's generated credentials (as the reconciler writes them into the store's
    Secret) appear in neither body, whatever the event."""
    row = store(engine)
    values = get_engine(engine).generate_secrets(spec_for(row, "alice"))
    secret_values = [value for value in values.values() if value != row.admin_user and len(value) >= 8]
    assert secret_values, "the engine generated no secret to look for"
    for event_type in (*events.EVENT_TYPES, events.WEBHOOK_TEST):
        payload = events.store_event(event_type, row, "alice", at=AT, event_id="e" * 32)
        for slack in (False, True):
            text = json.dumps(events.body_for(payload, slack=slack))
            assert not [value for value in secret_values if value in text]
    assert "admin_user" not in json.dumps(payload) and "namespace" not in payload["store"]


@pytest.mark.parametrize(
    ("action", "changes", "expected"),
    [
        ("store.ready", {"status": "ready"}, "store.ready"),
        ("store.failed", {"status": "failed"}, "store.failed"),
        # A failed store whose cause changed (timeout -> setup failed) is not a new failure.
        ("store.failed", {"failure_kind": "setup"}, None),
        ("store.deleted", {"status": "deleted"}, "store.deleted"),
        ("store.degraded", {"health": "degraded"}, "store.degraded"),
        ("store.recovered", {"health": "working"}, None),
        ("store.provisioning", {"status": "provisioning"}, None),
        # Day-2 operations, as their reconciler steps finish them.
        ("store.suspended", {"status": "suspended"}, "store.suspended"),
        ("store.resumed", {"status": "ready"}, "store.resumed"),
        ("store.restored", {"status": "ready"}, "store.restored"),
        ("store.plan_changed", {"status": "ready"}, "store.plan_changed"),
        ("store.upgraded", {"status": "ready"}, "store.upgraded"),
        ("store.upgrade_rolled_back", {"status": "ready"}, "store.upgrade_rolled_back"),
        ("store.upgrade_failed", {"status": "ready", "health": "working"}, "store.upgrade_failed"),
        ("store.upgrade_failed", {"status": "restoring"}, "store.upgrade_failed"),
        (None, {"status": "ready"}, None),
    ],
)
def test_event_for_reconciler_steps(action: str | None, changes: dict[str, str], expected: str | None) -> None:
    assert events.event_for(action, changes) == expected


def test_slack_shape_is_text_only_and_escaped() -> None:
    payload = events.store_event(
        events.STORE_FAILED, store(status="failed", message="Setup <failed> & stopped"), "bob", at=AT, event_id="e"
    )
    body = events.body_for(payload, slack=True)
    assert list(body) == ["text"]
    assert body["text"] == ":x: Store *shop-one* (woocommerce, owner bob) failed: Setup &lt;failed&gt; &amp; stopped"
    ready = events.body_for(events.store_event(events.STORE_READY, store(), "bob", at=AT, event_id="e"), slack=True)
    assert ready["text"].endswith("is ready: <http://shop-one.stores.localhost>")
    test = events.webhook_test_event("w" * 32, "Team <Slack>", at=AT, event_id="e")
    assert events.body_for(test, slack=True) == {
        "text": ":wave: Test event from Store Platform for webhook *Team &lt;Slack&gt;*."
    }
    assert events.body_for(test, slack=False) == test


def test_backup_failed_is_defined_for_subscriptions() -> None:
    assert events.BACKUP_FAILED in events.EVENT_TYPES
    assert events.EVENT_TYPES[events.BACKUP_FAILED] == "Backup failed"


def test_every_event_a_reconciler_step_emits_can_be_subscribed_to_and_reads_well_in_slack() -> None:
    for action in events._ACTIONS:
        assert action in events.EVENT_TYPES, action
        payload = events.store_event(action, store(message="Ready on plan 'large'."), "bob", at=AT, event_id="e")
        text = events.body_for(payload, slack=True)["text"]
        assert "*shop-one*" in text and not text.startswith("Store Platform event"), text
    rolled = events.store_event(events.STORE_UPGRADE_ROLLED_BACK, store(), "bob", at=AT, event_id="e")
    assert events.body_for(rolled, slack=True)["text"].startswith(":warning:")


def test_signing_secret_is_derived_per_webhook_and_key() -> None:
    key = "k" * 40
    first = signing.derive_secret(key, "w1", "n1")
    assert first.startswith("whsec_") and first == signing.derive_secret(key, "w1", "n1")
    assert len({first, signing.derive_secret(key, "w2", "n1"), signing.derive_secret(key, "w1", "n2")}) == 3
    assert first != signing.derive_secret("j" * 40, "w1", "n1")
    header = signing.signature(first, "1700000000", b'{"a":1}')
    assert signing.verify(first, "1700000000", b'{"a":1}', header)
    assert not signing.verify(first, "1700000001", b'{"a":1}', header)
    assert not signing.verify(first, "1700000000", b'{"a":2}', header)


def test_backoff_doubles_up_to_an_hour_and_settings_are_checked() -> None:
    settings = Settings.from_env({}, webhook_retry_base_seconds=10)
    assert [backoff(settings, n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff(settings, 30).total_seconds() == 3600
    for env in ({"WEBHOOK_MAX_ATTEMPTS": "0"}, {"WEBHOOK_TIMEOUT_SECONDS": "-1"}, {"WEBHOOK_RETRY_BASE_SECONDS": "0"}):
        with pytest.raises(SettingsError, match="WEBHOOK_"):
            Settings.from_env(env)
    assert Settings.from_env({"WEBHOOK_MAX_ATTEMPTS": "3"}).webhook_max_attempts == 3
