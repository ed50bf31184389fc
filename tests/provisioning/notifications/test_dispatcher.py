"""Deliveries to a real HTTP server on 127.0.0.1: headers and body, retries with backoff,
giving up, timeouts. The test moves the dispatcher's clock and calls deliver_due itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from provisioning.actors import Actor
from provisioning.db import make_engine, migrate
from provisioning.models import Webhook, WebhookDelivery
from provisioning.notifications import signing
from provisioning.notifications.dispatcher import Dispatcher
from provisioning.notifications.webhooks import WebhookService
from provisioning.platform import Platform
from provisioning.settings import Settings
from provisioning.users import UserService
from tests.fakes import Clock
from tests.provisioning.notifications.conftest import Receiver
from tests.shared.portal import create_users, make_settings
from tests.shared.servers import free_port
from tests.shared.waiting import wait_for

KEY = "platform-key-0123456789abcdef0123456789"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """SQLite only: delivery is the same code on both backends (the outbox tests run on both)."""
    return make_settings(tmp_path, webhook_max_attempts=3, webhook_retry_base_seconds=10, webhook_timeout_seconds=0.5)


@pytest.fixture
def db(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    migrate(engine)
    users = UserService(engine, settings)
    users.ensure_first_admin()
    create_users(users, "alice")
    yield engine
    engine.dispose()


@pytest.fixture
def alice(db: Engine, settings: Settings) -> Actor:
    return UserService(db, settings).get_actor("alice")


@pytest.fixture
def webhooks(db: Engine, settings: Settings, clock: Clock) -> WebhookService:
    return WebhookService(db, settings, platform_key=lambda: KEY, clock=clock)


@pytest.fixture
def dispatcher(db: Engine, settings: Settings, clock: Clock) -> Dispatcher:
    return Dispatcher(db, settings, platform_key=lambda: KEY, clock=clock)


def deliveries(db: Engine) -> list[WebhookDelivery]:
    with Session(db) as session:
        return list(session.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))).all())


def webhook(db: Engine, webhook_id: str) -> Webhook:
    with Session(db) as session:
        row = session.get(Webhook, webhook_id)
        assert row is not None
        return row


def test_delivered_once_with_json_and_signed_headers(
    db: Engine, webhooks: WebhookService, dispatcher: Dispatcher, receiver: Receiver, alice: Actor, clock: Clock
) -> None:
    created = webhooks.create(alice, "Mine", receiver.url, ["store.ready"])
    webhooks.send_test(alice, created.webhook.id)
    [outcome] = dispatcher.deliver_due(clock.now)
    assert outcome.ok and outcome.status_code == 200
    assert dispatcher.deliver_due(clock.now + timedelta(hours=2)) == []  # never sent twice
    [request] = receiver.requests
    assert request.path == "/hooks/store-events?team=ops"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-store-platform-event"] == "webhook.test"
    body = request.json
    assert body["type"] == "webhook.test" and body["webhook"] == {"id": created.webhook.id, "name": "Mine"}
    assert request.headers["x-store-platform-delivery"] == body["id"]
    secret = created.signing_secret
    assert secret is not None
    timestamp = request.headers["x-store-platform-timestamp"]
    assert timestamp == str(int(clock.now.timestamp()))
    assert signing.verify(secret, timestamp, request.body, request.headers["x-store-platform-signature"])
    [row] = deliveries(db)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 1, 200, "")
    assert row.delivered_at == clock.now
    hook = webhook(db, created.webhook.id)
    assert (hook.last_result, hook.last_status_code, hook.last_attempts, hook.last_attempt_at) == (
        "delivered",
        200,
        1,
        clock.now,
    )


def test_slack_format_and_unsigned(
    webhooks: WebhookService, dispatcher: Dispatcher, receiver: Receiver, alice: Actor, clock: Clock
) -> None:
    created = webhooks.create(alice, "Slack", receiver.url, ["store.ready"], slack=True, signed=False)
    webhooks.send_test(alice, created.webhook.id)
    dispatcher.deliver_due(clock.now)
    [request] = receiver.requests
    assert request.json == {"text": ":wave: Test event from Store Platform for webhook *Slack*."}
    assert "x-store-platform-signature" not in request.headers


def test_500_then_200_is_retried_after_backoff(
    db: Engine, webhooks: WebhookService, dispatcher: Dispatcher, receiver: Receiver, alice: Actor, clock: Clock
) -> None:
    receiver.answers = [500, 200]
    hook = webhooks.create(alice, "Mine", receiver.url, ["store.ready"]).webhook
    webhooks.send_test(alice, hook.id)
    [first] = dispatcher.deliver_due(clock.now)
    assert (first.status_code, first.error) == (500, "HTTP 500")
    [row] = deliveries(db)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert row.next_attempt_at == clock.now + timedelta(seconds=10)
    assert webhook(db, hook.id).last_result == "retrying"
    clock.advance(9)
    assert dispatcher.deliver_due(clock.now) == []  # not due yet
    clock.advance(1)
    [second] = dispatcher.deliver_due(clock.now)
    assert second.ok
    [row] = deliveries(db)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 2, 200, "")
    assert len(receiver.requests) == 2
    assert receiver.requests[0].json["id"] == receiver.requests[1].json["id"]  # same event, resent
    hook_row = webhook(db, hook.id)
    assert (hook_row.last_result, hook_row.last_attempts) == ("delivered", 2)


def test_always_500_gives_up_after_max_attempts(
    db: Engine, webhooks: WebhookService, dispatcher: Dispatcher, receiver: Receiver, alice: Actor, clock: Clock
) -> None:
    receiver.answers = [503]
    hook = webhooks.create(alice, "Mine", receiver.url, ["store.ready"]).webhook
    webhooks.send_test(alice, hook.id)
    delays = []
    for _ in range(3):
        [outcome] = dispatcher.deliver_due(clock.now)
        assert outcome.status_code == 503
        row = deliveries(db)[0]
        delays.append((row.next_attempt_at - clock.now).total_seconds())
        clock.advance(3600)
    assert delays == [10, 20, 0]  # exponential backoff, then given up
    [row] = deliveries(db)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("failed", 3, 503, "HTTP 503")
    assert dispatcher.deliver_due(clock.now + timedelta(days=1)) == []
    assert len(receiver.requests) == 3
    hook_row = webhook(db, hook.id)
    assert (hook_row.last_result, hook_row.last_status_code, hook_row.last_attempts) == ("failed", 503, 3)


def test_client_error_is_not_retried(
    db: Engine, webhooks: WebhookService, dispatcher: Dispatcher, receiver: Receiver, alice: Actor, clock: Clock
) -> None:
    receiver.answers = [404]
    hook = webhooks.create(alice, "Mine", receiver.url, ["store.ready"]).webhook
    webhooks.send_test(alice, hook.id)
    dispatcher.deliver_due(clock.now)
    [row] = deliveries(db)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, 404)


def test_slow_endpoint_times_out_and_does_not_hold_up_others(
    db: Engine, webhooks: WebhookService, dispatcher: Dispatcher, receiver: Receiver, alice: Actor, clock: Clock
) -> None:
    """A receiver that takes 30 s: the attempt ends at the 0.5 s timeout, is recorded as
    such and retried later; an unreachable one is recorded too; a good one is delivered."""
    receiver.answers = ["slow"]
    receiver.slow_seconds = 30
    slow = webhooks.create(alice, "Slow", receiver.url, ["store.ready"]).webhook
    # A port nothing listens on (free_port binds and closes it): connection refused.
    gone = webhooks.create(alice, "Gone", f"http://127.0.0.1:{free_port()}/x", ["store.ready"]).webhook
    webhooks.send_test(alice, slow.id)
    webhooks.send_test(alice, gone.id)
    started = time.monotonic()
    outcomes = dispatcher.deliver_due(clock.now)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"a slow endpoint held the dispatcher for {elapsed:.1f}s"
    by_hook = {row.webhook_id: row for row in deliveries(db)}
    assert by_hook[slow.id].last_error == "timed out after 0.5s"
    assert by_hook[gone.id].last_error in ("connection refused", "connection error: Connection refused")
    for row in by_hook.values():
        assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert [o.status_code for o in outcomes] == [None, None]


def test_platform_runs_the_dispatcher_in_its_own_thread(tmp_path: Path, receiver: Receiver) -> None:
    """The wiring the worker and `make run` use: Platform.start_dispatcher_thread delivers
    queued events by itself, and stop() ends the thread."""
    platform = Platform.build(make_settings(tmp_path, webhook_timeout_seconds=0.5))
    try:
        create_users(platform.users, "alice")
        alice = platform.users.get_actor("alice")
        created = platform.webhooks.create(alice, "Mine", receiver.url, ["store.ready"])
        platform.start_dispatcher_thread()
        platform.webhooks.send_test(alice, created.webhook.id)
        wait_for(lambda: receiver.requests, timeout=20, what="the test event to arrive")
        secret = created.signing_secret
        assert secret is not None
        [request] = receiver.requests
        signed = request.headers["x-store-platform-signature"]
        assert signing.verify(secret, request.headers["x-store-platform-timestamp"], request.body, signed)
        wait_for(lambda: webhook(platform.db, created.webhook.id).last_result == "delivered", what="the result")
    finally:
        platform.stop()
        platform.db.dispose()
    assert platform.dispatcher_thread is not None and not platform.dispatcher_thread.is_alive()
