"""The webhook service: what the Notifications page does, with the permission checks.

Users manage webhooks for their own stores; admins also manage global ones (every store)
and see everyone's. A webhook someone may not see is NotFoundError, as stores are.
Creating and deleting are audited. URLs are shown without their path and query (a Slack
incoming-webhook URL is itself a credential), in the audit log too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import delete, func
from sqlalchemy.engine import Engine as DbEngine
from sqlmodel import Session, col, select

from provisioning import audit
from provisioning.actors import Actor
from provisioning.db import session_scope
from provisioning.errors import LimitExceededError, NotFoundError, PermissionDeniedError, ValidationError
from provisioning.models import User, Webhook, WebhookDelivery, utcnow
from provisioning.notifications import events, outbox, signing
from provisioning.settings import Settings

MAX_WEBHOOKS_PER_OWNER = 10
MAX_GLOBAL_WEBHOOKS = 20
MAX_URL_LENGTH = 2000
MAX_NAME_LENGTH = 60
GLOBAL = "(all stores)"


@dataclass(frozen=True)
class WebhookView:
    """A webhook as the page shows it: no full URL, no secret."""

    id: str
    name: str
    url: str  # scheme://host[:port]/… (path and query hidden)
    scope: str  # the owner's username, or GLOBAL
    events: list[str]
    slack: bool
    signed: bool
    created_at: datetime
    last_result: str
    last_status_code: int | None
    last_error: str
    last_attempt_at: datetime | None
    last_attempts: int
    last_event_type: str


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: WebhookView
    # Shown once: it is derived again only by the dispatcher, never displayed again.
    signing_secret: str | None


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    hidden = "/…" if (parts.path not in ("", "/") or parts.query) else "/"
    return f"{parts.scheme}://{host}{port}{hidden}"


def validate_url(raw: object) -> str:
    """http:// or https:// with a host name; no credentials, spaces or fragments."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("Enter the URL to send events to.", field="url")
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(f"The URL is too long (at most {MAX_URL_LENGTH} characters).", field="url")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValidationError("The URL must not contain spaces or control characters.", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ValidationError("That is not a valid URL (check the host name and port).", field="url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("The URL must start with http:// or https://.", field="url")
    if not parts.hostname:
        raise ValidationError("The URL has no host name (e.g. https://hooks.example.com/store-events).", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "Put no user name or password in the URL; turn on signing to let the receiver check senders.",
            field="url",
        )
    if parts.fragment:
        raise ValidationError("The URL must not have a #fragment (it is never sent).", field="url")
    return url


def validate_events(raw: Iterable[object]) -> list[str]:
    chosen = [str(item) for item in raw]
    unknown = [item for item in chosen if item not in events.EVENT_TYPES]
    if unknown:
        raise ValidationError(f"Unknown event type: {', '.join(unknown)}.", field="events")
    if not chosen:
        raise ValidationError("Choose at least one event to send.", field="events")
    return [event for event in events.EVENT_TYPES if event in chosen]


def validate_name(raw: object) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise ValidationError("Give the webhook a name (e.g. 'Team Slack').", field="name")
    if len(name) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in name):
        raise ValidationError(f"The name must be 1-{MAX_NAME_LENGTH} printable characters.", field="name")
    return name


class WebhookService:
    def __init__(
        self,
        db: DbEngine,
        settings: Settings,
        *,
        platform_key: Callable[[], str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self._platform_key = platform_key
        self.clock = clock

    def create(
        self,
        actor: Actor,
        name: object,
        url: object,
        event_types: Iterable[object],
        *,
        slack: bool = False,
        signed: bool = True,
        global_scope: bool = False,
    ) -> CreatedWebhook:
        name, url, chosen = validate_name(name), validate_url(url), validate_events(event_types)
        if global_scope and not actor.is_admin:
            raise PermissionDeniedError("Only administrators can add webhooks for all stores.")
        owner_id = None if global_scope else actor.id
        with session_scope(self.db) as session:
            user = session.get(User, actor.id)
            if user is None or user.disabled:
                raise PermissionDeniedError("Your account is disabled or no longer exists.")
            owned = col(Webhook.owner_id).is_(None) if owner_id is None else col(Webhook.owner_id) == owner_id
            count = session.exec(select(func.count()).select_from(Webhook).where(owned)).one()
            allowed = MAX_GLOBAL_WEBHOOKS if owner_id is None else MAX_WEBHOOKS_PER_OWNER
            if count >= allowed:
                raise LimitExceededError(f"There are already {count} of {allowed} webhooks allowed; delete one first.")
            hook = Webhook(
                name=name,
                url=url,
                owner_id=owner_id,
                events=chosen,
                slack=bool(slack),
                signing_nonce=signing.new_nonce() if signed else "",
                created_by=actor.username,
                created_at=self.clock(),
            )
            session.add(hook)
            audit.record(
                session,
                actor=actor.username,
                action="webhook.create",
                detail=f"{name!r} -> {redact_url(url)} ({'all stores' if owner_id is None else 'own stores'}; "
                f"{', '.join(chosen)})",
            )
            session.flush()
            view = self._view(hook, GLOBAL if owner_id is None else actor.username)
        secret = signing.derive_secret(self._platform_key(), hook.id, hook.signing_nonce) if signed else None
        return CreatedWebhook(view, secret)

    def list_webhooks(self, actor: Actor) -> list[WebhookView]:
        """A user's own webhooks; an admin's view is every webhook, global ones first."""
        with Session(self.db) as session:
            query = select(Webhook, User.username).outerjoin(User, col(User.id) == col(Webhook.owner_id))
            if not actor.is_admin:
                query = query.where(col(Webhook.owner_id) == actor.id)
            rows = session.exec(query.order_by(col(Webhook.owner_id).is_not(None), col(Webhook.created_at))).all()
            return [self._view(hook, owner or GLOBAL) for hook, owner in rows]

    def delete(self, actor: Actor, webhook_id: str) -> None:
        """Delete the webhook and its undelivered events."""
        with session_scope(self.db) as session:
            hook = self._visible(session, actor, webhook_id)
            session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == hook.id))
            session.delete(hook)
            audit.record(
                session,
                actor=actor.username,
                action="webhook.delete",
                detail=f"{hook.name!r} -> {redact_url(hook.url)}",
            )

    def send_test(self, actor: Actor, webhook_id: str) -> None:
        """Queue a `webhook.test` event; the dispatcher sends it within seconds."""
        with session_scope(self.db) as session:
            hook = self._visible(session, actor, webhook_id)
            outbox.enqueue_test(session, hook, at=self.clock())

    def _visible(self, session: Session, actor: Actor, webhook_id: str) -> Webhook:
        valid = isinstance(webhook_id, str) and len(webhook_id) == 32
        hook = session.get(Webhook, webhook_id) if valid else None
        if hook is None or not (actor.is_admin or (hook.owner_id is not None and hook.owner_id == actor.id)):
            raise NotFoundError("That webhook does not exist or is not yours.")
        return hook

    @staticmethod
    def _view(hook: Webhook, scope: str) -> WebhookView:
        return WebhookView(
            id=hook.id,
            name=hook.name,
            url=redact_url(hook.url),
            scope=scope,
            events=list(hook.events or []),
            slack=hook.slack,
            signed=bool(hook.signing_nonce),
            created_at=hook.created_at,
            last_result=hook.last_result,
            last_status_code=hook.last_status_code,
            last_error=hook.last_error,
            last_attempt_at=hook.last_attempt_at,
            last_attempts=hook.last_attempts,
            last_event_type=hook.last_event_type,
        )
