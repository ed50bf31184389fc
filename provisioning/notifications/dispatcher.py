"""The delivery loop: POST due outbox rows, retry with exponential backoff, record results.

Runs in its own thread beside the reconciler (worker process, or the portal's thread in
local mode), so a slow receiver never delays a reconciler pass. Each attempt has a short
timeout (WEBHOOK_TIMEOUT_SECONDS) and runs on a small pool, so one slow endpoint does not
hold up the others either. A row is claimed with a conditional UPDATE before it is sent:
two dispatchers (say, during a rolling update) never send the same attempt twice.
Delivery is at least once: a process that dies mid-request resends after the claim ends.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.engine import Engine as DbEngine
from sqlmodel import col, select

from provisioning.db import session_scope
from provisioning.models import Webhook, WebhookDelivery, utcnow
from provisioning.notifications import events, signing
from provisioning.notifications.outbox import DELIVERED, FAILED, PENDING
from provisioning.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600.0
POLL_SECONDS = 1.0
BATCH = 50
PARALLEL = 4
USER_AGENT = "store-platform-webhooks/1"
# Statuses worth trying again: the receiver is overloaded or briefly broken.
RETRY_STATUSES = frozenset({408, 425, 429})

Post = Callable[[str, bytes, dict[str, str], float], int]


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    webhook_id: str
    url: str
    slack: bool
    signing_nonce: str
    event_type: str
    event_id: str
    payload: dict[str, Any]
    attempt: int  # 1 for the first


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        if self.status_code is None:
            return True  # connection refused, timeout, TLS or protocol error
        return self.status_code >= 500 or self.status_code in RETRY_STATUSES


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST with http.client: no redirects followed, no proxy, the response body unread
    beyond a little (never stored). Raises OSError / HTTPException on failure."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


def describe(error: BaseException, timeout: float) -> str:
    """A short, secret-free line for the page (never the URL: it may hold a token)."""
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout:g}s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "host name not found"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or type(error).__name__}"
    if isinstance(error, http.client.HTTPException):
        return f"invalid HTTP response ({type(error).__name__})"
    if isinstance(error, OSError):
        return f"connection error: {error.strerror or type(error).__name__}"
    return f"error: {type(error).__name__}"


def backoff(settings: Settings, attempt: int) -> timedelta:
    """Delay before attempt `attempt + 1`: base, 2x base, 4x base, ... at most an hour."""
    seconds = settings.webhook_retry_base_seconds * 2 ** min(max(attempt - 1, 0), 20)
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, seconds))


class Dispatcher:
    def __init__(
        self,
        db: DbEngine,
        settings: Settings,
        *,
        platform_key: Callable[[], str],
        clock: Callable[[], datetime] = utcnow,
        post: Post = post_json,
    ) -> None:
        self.db = db
        self.settings = settings
        self._platform_key = platform_key
        self._key: str | None = None
        self.clock = clock
        self.post = post
        self._pool = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="webhook")

    # -- loop -----------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        log.info("webhook dispatcher started")
        errors = 0
        while not stop.is_set():
            try:
                self.deliver_due()
                errors = 0
            except Exception:  # the database may be down: keep going, quietly
                errors += 1
                if errors == 1 or errors % 10 == 0:
                    log.exception("webhook dispatch failed (%d in a row)", errors)
            stop.wait(min(60.0, POLL_SECONDS * 2 ** min(errors, 6)))
        self._pool.shutdown(wait=True)
        log.info("webhook dispatcher stopped")

    def deliver_due(self, now: datetime | None = None, *, limit: int = BATCH) -> list[Outcome]:
        """Send every due delivery once (in parallel, each with the timeout); record results."""
        now = now or self.clock()
        attempts = self._claim(now, limit)
        outcomes = list(self._pool.map(self._send, attempts))
        for attempt, outcome in zip(attempts, outcomes, strict=True):
            self._record(attempt, outcome, now)
        return outcomes

    # -- steps ----------------------------------------------------------------------------

    def _claim(self, now: datetime, limit: int) -> list[Attempt]:
        """Take due rows: push each one's next_attempt_at past this attempt, conditionally."""
        hold = now + timedelta(seconds=self.settings.webhook_timeout_seconds * 3 + 30)
        claimed: list[Attempt] = []
        with session_scope(self.db) as session:
            rows = session.exec(
                select(WebhookDelivery, Webhook)
                .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
                .where(col(WebhookDelivery.status) == PENDING, col(WebhookDelivery.next_attempt_at) <= now)
                .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
                .limit(limit)
            ).all()
            for delivery, hook in rows:
                done = delivery.attempts
                taken = session.execute(
                    update(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.id) == delivery.id,
                        col(WebhookDelivery.status) == PENDING,
                        col(WebhookDelivery.attempts) == done,
                    )
                    .values(next_attempt_at=hold, attempts=done + 1)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                assert delivery.id is not None
                claimed.append(
                    Attempt(
                        delivery.id,
                        hook.id,
                        hook.url,
                        hook.slack,
                        hook.signing_nonce,
                        delivery.event_type,
                        delivery.event_id,
                        dict(delivery.payload or {}),
                        done + 1,
                    )
                )
        return claimed

    def _headers(self, attempt: Attempt, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Store-Platform-Event": attempt.event_type,
            "X-Store-Platform-Delivery": attempt.event_id,
        }
        if attempt.signing_nonce:
            if self._key is None:
                self._key = self._platform_key()
            timestamp = str(int(self.clock().timestamp()))
            secret = signing.derive_secret(self._key, attempt.webhook_id, attempt.signing_nonce)
            headers[signing.TIMESTAMP_HEADER] = timestamp
            headers[signing.SIGNATURE_HEADER] = signing.signature(secret, timestamp, body)
        return headers

    def _send(self, attempt: Attempt) -> Outcome:
        timeout = self.settings.webhook_timeout_seconds
        try:
            body = json.dumps(events.body_for(attempt.payload, slack=attempt.slack), separators=(",", ":")).encode()
            status = self.post(attempt.url, body, self._headers(attempt, body), timeout)
        except Exception as error:  # any failure of one attempt is recorded, never raised
            return Outcome(None, describe(error, timeout))
        return Outcome(status, "" if 200 <= status < 300 else f"HTTP {status}")

    def _record(self, attempt: Attempt, outcome: Outcome, now: datetime) -> None:
        if outcome.ok:
            status, next_at, line = DELIVERED, now, "delivered"
        elif outcome.retryable and attempt.attempt < self.settings.webhook_max_attempts:
            status, next_at, line = PENDING, now + backoff(self.settings, attempt.attempt), "retrying"
        else:
            status, next_at, line = FAILED, now, "failed"
        with session_scope(self.db) as session:
            session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == attempt.delivery_id)
                .values(
                    status=status,
                    next_attempt_at=next_at,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error[:500],
                    last_attempt_at=now,
                    delivered_at=now if outcome.ok else None,
                )
            )
            session.execute(
                update(Webhook)
                .where(col(Webhook.id) == attempt.webhook_id)
                .values(
                    last_result=line,
                    last_status_code=outcome.status_code,
                    last_error=outcome.error[:500],
                    last_attempt_at=now,
                    last_attempts=attempt.attempt,
                    last_event_type=attempt.event_type,
                )
            )
        if not outcome.ok:
            log.info(
                "webhook %s: %s attempt %d %s (%s)",
                attempt.webhook_id,
                attempt.event_type,
                attempt.attempt,
                line,
                outcome.error,
            )
