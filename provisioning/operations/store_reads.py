"""On-demand cluster reads for a store's page and the API: credentials, insight, logs.

Each read checks that the actor may see the store, reads only that store's namespace, and
is audited where it shows more than the store page does. Never on a list refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from provisioning import audit
from provisioning.actors import Actor
from provisioning.db import session_scope
from provisioning.engines import get_engine
from provisioning.engines.base import SECRET_NAME, Engine
from provisioning.errors import InvalidStateError, ValidationError
from provisioning.models import Store, StoreStatus
from provisioning.operations.store_logs import MAX_TAIL_LINES, TAIL_LINES, ContainerLog

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as DbEngine

    from provisioning.kube import StoreInsight


class SecretReader(Protocol):
    """The cluster read behind revealing a store's admin password."""

    def read_secret_value(self, namespace: str, name: str, key: str) -> str: ...


class ClusterReader(SecretReader, Protocol):
    """On-demand reads for the store page (never on a list refresh)."""

    def insight(self, namespace: str) -> StoreInsight: ...

    def store_logs(self, namespace: str, *, tail_lines: int) -> list[ContainerLog]: ...


class StoreReads:
    """StoreService's cluster reads (a mixin: it supplies db, secrets and get_store)."""

    db: DbEngine
    secrets: SecretReader | None

    def get_store(self, actor: Actor, store_id: str) -> Store: ...

    def reveal_admin_password(self, actor: Actor, store_id: str) -> str:
        """Read the store's admin password from its Secret (the only place it exists)."""
        return self._reveal_secret(
            actor, store_id, key=lambda engine: engine.admin_password_key, action="store.reveal_password"
        )

    def reveal_publishable_key(self, actor: Actor, store_id: str) -> str:
        """Read a Medusa store's publishable API key from its Secret, with the same checks."""
        return self._reveal_secret(
            actor, store_id, key=lambda engine: engine.publishable_key_key, action="store.reveal_publishable_key"
        )

    def _reveal_secret(self, actor: Actor, store_id: str, *, key: Callable[[Engine], str | None], action: str) -> str:
        """Owner-or-admin check, then one Secret read, audited; the value is never stored.

        `key` picks the Secret key from the store's engine (None: it has no such credential).
        """
        store = self.get_store(actor, store_id)
        if store.status in (StoreStatus.DELETING, StoreStatus.DELETED):
            raise InvalidStateError(f"Store {store.name!r} is being deleted; its credentials are gone.")
        secret_key = key(get_engine(store.engine))
        if secret_key is None:
            raise InvalidStateError(f"Store {store.name!r} has no such credential.")
        if self.secrets is None:
            raise InvalidStateError("The cluster is not connected; try again in a moment.")
        value = self.secrets.read_secret_value(store.namespace, SECRET_NAME, secret_key)
        with session_scope(self.db) as session:
            audit.record(session, actor=actor.username, action=action, store_id=store.id, store_name=store.name)
        return value

    def store_insight(self, actor: Actor, store_id: str) -> StoreInsight:
        """Events (warnings first), pods and quota use of the store's namespace."""
        store, reader = self._live_store(actor, store_id, needs="insight")
        return reader.insight(store.namespace)

    def store_logs(self, actor: Actor, store_id: str, *, tail_lines: int = TAIL_LINES) -> list[ContainerLog]:
        """The last lines of each of the store's containers (the setup Job's included), for
        its owner or an admin; audited, since logs can say more than the store page does."""
        if not isinstance(tail_lines, int) or not 1 <= tail_lines <= MAX_TAIL_LINES:
            raise ValidationError(f"Ask for 1 to {MAX_TAIL_LINES} lines of log.", field="tail")
        store, reader = self._live_store(actor, store_id, needs="store_logs")
        logs: list[ContainerLog] = reader.store_logs(store.namespace, tail_lines=tail_lines)
        with session_scope(self.db) as session:
            audit.record(
                session, actor=actor.username, action="store.logs_viewed", store_id=store.id, store_name=store.name
            )
        return logs

    def _live_store(self, actor: Actor, store_id: str, *, needs: str) -> tuple[Store, Any]:
        """A store the actor may see that still has a namespace, and the cluster reader
        that can do ``needs`` (on-demand reads for the store page and the API)."""
        store = self.get_store(actor, store_id)
        if store.status == StoreStatus.DELETED:
            raise InvalidStateError(f"Store {store.name!r} is deleted; nothing is left in the cluster.")
        reader = self.secrets
        if reader is None or not hasattr(reader, needs):
            raise InvalidStateError("The cluster is not connected; try again in a moment.")
        return store, reader
