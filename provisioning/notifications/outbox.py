"""The transactional outbox: event rows written in the caller's transaction.

The reconciler calls `notify` inside the session that changes the store's status (or
health): the change and its deliveries commit together or not at all, so a process that
dies between the two loses nothing and sends nothing false. The dispatcher delivers them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from provisioning.models import Store, User, Webhook, WebhookDelivery
from provisioning.notifications import events

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


def matching_webhooks(session: Session, owner_id: int, event_type: str) -> list[Webhook]:
    """Global webhooks, and the store owner's own (unless the owner is disabled)."""
    rows = session.exec(
        select(Webhook)
        .outerjoin(User, col(User.id) == col(Webhook.owner_id))
        .where(
            or_(
                col(Webhook.owner_id).is_(None),
                and_(col(Webhook.owner_id) == owner_id, col(User.disabled).is_(False)),
            )
        )
        .order_by(col(Webhook.created_at))
    ).all()
    return [hook for hook in rows if event_type in (hook.events or [])]


def enqueue_store_event(session: Session, event_type: str, store: Store, *, at: datetime) -> list[WebhookDelivery]:
    """One delivery row per webhook subscribed to `event_type` for this store."""
    hooks = matching_webhooks(session, store.owner_id, event_type)
    if not hooks:
        return []
    owner = session.get(User, store.owner_id)
    event_id = uuid.uuid4().hex
    payload = events.store_event(event_type, store, owner.username if owner else "", at=at, event_id=event_id)
    rows = [
        WebhookDelivery(
            webhook_id=hook.id,
            event_id=event_id,
            event_type=event_type,
            store_id=store.id,
            payload=payload,
            next_attempt_at=at,
            created_at=at,
        )
        for hook in hooks
    ]
    session.add_all(rows)
    return rows


def notify(session: Session, action: str | None, changes: dict[str, Any], store: Store, *, at: datetime) -> None:
    """Queue the event a reconciler step's change emits, if any (same transaction)."""
    event_type = events.event_for(action, changes)
    if event_type is not None:
        enqueue_store_event(session, event_type, store, at=at)


def enqueue_test(session: Session, hook: Webhook, *, at: datetime) -> WebhookDelivery:
    event_id = uuid.uuid4().hex
    row = WebhookDelivery(
        webhook_id=hook.id,
        event_id=event_id,
        event_type=events.WEBHOOK_TEST,
        payload=events.webhook_test_event(hook.id, hook.name, at=at, event_id=event_id),
        next_attempt_at=at,
        created_at=at,
    )
    session.add(row)
    return row
