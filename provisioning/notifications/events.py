"""Event types and bodies. Pure: no I/O, no clock.

A payload names the store and its state, never a credential: only the fields listed in
`STORE_FIELDS` are copied from the store row (which holds no secret either), plus the
owner's username.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

STORE_READY = "store.ready"
STORE_FAILED = "store.failed"
STORE_DEGRADED = "store.degraded"
STORE_DELETED = "store.deleted"
# Emitted by the reconciler when a backup's Job fails (provisioning/backups/backup_steps.py).
BACKUP_FAILED = "backup.failed"
# Day-2 operations (docs/operations.md), emitted when the reconciler finishes them.
STORE_SUSPENDED = "store.suspended"
STORE_RESUMED = "store.resumed"
STORE_RESTORED = "store.restored"
STORE_PLAN_CHANGED = "store.plan_changed"
STORE_UPGRADED = "store.upgraded"
STORE_UPGRADE_FAILED = "store.upgrade_failed"
STORE_UPGRADE_ROLLED_BACK = "store.upgrade_rolled_back"
WEBHOOK_TEST = "webhook.test"

EVENT_TYPES: dict[str, str] = {
    STORE_READY: "Store ready",
    STORE_FAILED: "Store failed",
    STORE_DEGRADED: "Store degraded (shoppers cannot use it)",
    STORE_DELETED: "Store deleted",
    BACKUP_FAILED: "Backup failed",
    STORE_SUSPENDED: "Store suspended",
    STORE_RESUMED: "Store resumed",
    STORE_RESTORED: "Store restored from a backup",
    STORE_PLAN_CHANGED: "Store plan changed",
    STORE_UPGRADED: "Store upgraded",
    STORE_UPGRADE_FAILED: "Store upgrade failed (rolling back, or never started)",
    STORE_UPGRADE_ROLLED_BACK: "Store back on its previous versions after a failed upgrade",
}

# Audit action of a reconciler step -> the row change that makes it the event ("": any).
# An action without that change (e.g. a failed store whose cause changed) emits nothing.
_ACTIONS: dict[str, tuple[str, str]] = {
    "store.ready": ("status", "ready"),
    "store.failed": ("status", "failed"),
    "store.deleted": ("status", "deleted"),
    "store.degraded": ("health", "degraded"),
    STORE_SUSPENDED: ("status", "suspended"),
    STORE_RESUMED: ("status", "ready"),
    STORE_RESTORED: ("status", "ready"),
    STORE_PLAN_CHANGED: ("status", "ready"),
    STORE_UPGRADED: ("status", "ready"),
    STORE_UPGRADE_ROLLED_BACK: ("status", "ready"),
    # Either back to `ready` (its backup failed: nothing changed) or on to `restoring`:
    # the action is recorded only when an upgrade fails, so it is always the event.
    STORE_UPGRADE_FAILED: ("", ""),
}

STORE_FIELDS = ("id", "name", "engine", "status", "health", "url", "message")


class StoreLike(Protocol):
    id: str
    name: str
    engine: str
    status: str
    health: str
    url: str
    message: str


def event_for(action: str | None, changes: Mapping[str, Any]) -> str | None:
    """The event a reconciler step emits, from its audit action and its row changes."""
    wanted = _ACTIONS.get(action or "")
    if wanted is None:
        return None
    column, value = wanted
    return action if not column or changes.get(column) == value else None


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def store_event(event_type: str, store: StoreLike, owner: str, *, at: datetime, event_id: str) -> dict[str, Any]:
    """The JSON body of a store event (an allow-list of fields, so no secret can slip in)."""
    body: dict[str, Any] = {field: str(getattr(store, field) or "") for field in STORE_FIELDS}
    body["owner"] = owner
    return {"id": event_id, "type": event_type, "occurred_at": iso(at), "store": body}


def webhook_test_event(webhook_id: str, webhook_name: str, *, at: datetime, event_id: str) -> dict[str, Any]:
    """What "Send test event" delivers."""
    return {
        "id": event_id,
        "type": WEBHOOK_TEST,
        "occurred_at": iso(at),
        "webhook": {"id": webhook_id, "name": webhook_name},
        "store": None,
    }


def _escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(payload: Mapping[str, Any]) -> str:
    """One line a person can read in a Slack (or Mattermost, Rocket.Chat) channel."""
    kind = payload.get("type", "")
    store = payload.get("store") or {}
    if kind == WEBHOOK_TEST:
        name = _escape(str((payload.get("webhook") or {}).get("name", "")))
        return f":wave: Test event from Store Platform for webhook *{name}*."
    name = _escape(str(store.get("name", "")))
    owner = _escape(str(store.get("owner", "")))
    message = _escape(str(store.get("message", "")))
    who = f"*{name}* ({_escape(str(store.get('engine', '')))}, owner {owner})"
    if kind == STORE_READY:
        url = str(store.get("url", ""))
        return f":white_check_mark: Store {who} is ready: <{url}>"
    if kind == STORE_FAILED:
        return f":x: Store {who} failed: {message}"
    if kind == STORE_DEGRADED:
        return f":warning: Store {who} is degraded: {message}"
    if kind == STORE_DELETED:
        return f":wastebasket: Store {who} was deleted."
    if kind == BACKUP_FAILED:
        return f":x: A backup of store {who} failed: {message}"
    if kind in (STORE_UPGRADE_FAILED, STORE_UPGRADE_ROLLED_BACK):
        return f":warning: Store {who}: {EVENT_TYPES[kind].lower()}. {message}"
    if kind in EVENT_TYPES:
        return f":information_source: Store {who}: {EVENT_TYPES[kind].lower()}. {message}"
    return f"Store Platform event {_escape(str(kind))} for {who}"


def body_for(payload: Mapping[str, Any], *, slack: bool) -> dict[str, Any]:
    """The JSON document POSTed: the event itself, or Slack's `{"text": ...}`."""
    return {"text": slack_text(payload)} if slack else dict(payload)
