"""The store service: every user action on stores goes through here.

It records intent in the database (the reconciler does the cluster work) and checks, on
every call, that the acting user owns the store or is an admin. Users who may not see a
store get NotFoundError, not PermissionDeniedError, so store ids of others leak nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, or_
from sqlalchemy.engine import Engine as DbEngine
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from provisioning import audit
from provisioning.actors import Actor
from provisioning.backups.commands import BackupCommands
from provisioning.catalog import versions
from provisioning.db import session_scope
from provisioning.engines import get_engine
from provisioning.errors import (
    InvalidStateError,
    LimitExceededError,
    NameTakenError,
    NotFoundError,
    PermissionDeniedError,
)
from provisioning.lifecycle.plans import PlanCommands
from provisioning.lifecycle.suspension import SuspensionCommands
from provisioning.lifecycle.wakeup import intent_recorded
from provisioning.models import LIVE, AuditEvent, Backup, ClusterStatus, FailureKind, Store, StoreStatus, User, utcnow
from provisioning.names import namespace_for, validate_store_name
from provisioning.operations.store_reads import SecretReader, StoreReads
from provisioning.settings import Settings
from provisioning.upgrades.commands import UpgradeCommands

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

# Statuses counted as suspended in a user's usage (they hold storage like any live store).
SUSPENDED_STATUSES = (StoreStatus.SUSPENDING, StoreStatus.SUSPENDED, StoreStatus.RESUMING)


# What list pages show: loading these columns (not whole ORM objects, not the conditions
# JSON) keeps a list of thousands of stores to a few milliseconds per thousand rows.
SUMMARY_COLUMNS = (
    Store.id,
    Store.name,
    Store.engine,
    Store.namespace,
    Store.status,
    Store.health,
    Store.shopper_status,
    Store.message,
    Store.url,
    Store.created_at,
    Store.provisioning_started_at,
    Store.ready_at,
    Store.deleting_started_at,
    Store.suspended_reason,
    Store.suspended_by_admin,
    Store.suspended_at,
)
# A user's own stores: built once, since it runs on every My stores refresh and every
# GET /api/stores (building this select costs several times what running it does).
_OWN_STORES = (
    select(*SUMMARY_COLUMNS).where(col(Store.owner_id) == bindparam("owner_id")).order_by(col(Store.created_at).desc())
)
_OWN_LIVE_STORES = _OWN_STORES.where(col(Store.status) != StoreStatus.DELETED)


def _seconds_between(start: Any, end: Any, dialect: str) -> Any:
    """SQL for `end - start` in seconds, on PostgreSQL and SQLite alike."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


@dataclass(frozen=True)
class StoreStats:
    """Aggregates for the admin charts, computed in SQL over every store."""

    by_status: dict[str, int]
    created_per_day: dict[str, int]
    seconds_to_ready: list[float]
    total: int


@dataclass(frozen=True)
class Usage:
    used: int
    allowed: int
    # Of `used`: suspended stores (they keep their storage, so they count).
    suspended: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.allowed - self.used)


class StoreService(StoreReads, SuspensionCommands, PlanCommands, BackupCommands, UpgradeCommands):
    def __init__(self, db: DbEngine, settings: Settings, *, secrets: SecretReader | None = None) -> None:
        self.db = db
        self.settings = settings
        self.secrets = secrets

    # -- commands -------------------------------------------------------------------------

    def create_store(
        self,
        actor: Actor,
        name: object,
        *,
        engine: str = "woocommerce",
        plan: object = None,
        clone_of: Backup | None = None,
    ) -> Store:
        """Validate, enforce limits in the database, and queue the store as `requested`.

        `clone_of`: a backup (checked by `clone_store`) whose data the new store gets."""
        name = validate_store_name(name)
        store_engine, chosen = get_engine(engine), self._chosen_plan(actor, plan)
        with session_scope(self.db) as session:
            owner = self._lock_user(session, actor)
            if session.exec(select(Store.id).where(Store.active_name == name)).first():
                raise NameTakenError(f"A store named {name!r} already exists; choose another name.")
            live = session.exec(
                select(func.count()).select_from(Store).where(Store.owner_id == owner.id, col(Store.status).in_(LIVE))
            ).one()
            if live >= self.settings.max_stores_per_user:
                raise LimitExceededError(
                    f"You have {live} of {self.settings.max_stores_per_user} stores allowed "
                    "(suspended stores count: they keep their storage); delete one before creating another."
                )
            since = utcnow() - timedelta(hours=1)
            recent = session.exec(
                select(func.count()).select_from(Store).where(Store.owner_id == owner.id, Store.created_at >= since)
            ).one()
            if recent >= self.settings.max_creates_per_hour:
                raise LimitExceededError(
                    f"You can create {self.settings.max_creates_per_hour} stores per hour; please try again later."
                )
            store = Store(name=name, active_name=name, engine=store_engine.name, owner_id=owner.id, namespace="")
            store.namespace = namespace_for(name, store.id)
            store.url = self.settings.store_url(name)
            store.admin_user = f"{name}-admin"[:60]
            if clone_of is not None:  # the copied database knows its source's admin user
                store.cloned_from = clone_of.id
                source = session.get(Store, clone_of.store_id)
                store.admin_user = source.admin_user if source is not None else store.admin_user
            store.plan = chosen.name
            store.versions = versions.pinned(self.settings, store_engine.name)  # what it runs until upgraded
            session.add(store)
            detail = f"a copy of backup {clone_of.id} of {clone_of.created_at:%Y-%m-%d %H:%M} UTC" if clone_of else ""
            audit.record(
                session, actor=actor.username, action="store.create", store_id=store.id, store_name=name, detail=detail
            )
            try:
                session.flush()
            except IntegrityError:
                raise NameTakenError(f"A store named {name!r} already exists; choose another name.") from None
            intent_recorded(session)  # the reconciler starts on commit, not at its next pass
        log.info("store %s (%s) requested by %s", name, store.id, actor.username)
        return store

    def delete_store(self, actor: Actor, store_id: str) -> Store:
        """Mark for deletion; the name is released at once so it can be reused."""
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            if store.status == StoreStatus.DELETED:
                raise InvalidStateError(f"Store {store.name!r} is already deleted.")
            if store.status == StoreStatus.DELETING:
                raise InvalidStateError(f"Store {store.name!r} is already being deleted.")
            store.status = StoreStatus.DELETING
            store.active_name = None
            store.health = "working"
            store.message = "Deleting the store's namespace and everything in it."
            store.deleting_started_at = utcnow()
            store.next_attempt_at = None
            store.updated_at = utcnow()
            session.add(store)
            audit.record(session, actor=actor.username, action="store.delete", store_id=store.id, store_name=store.name)
            intent_recorded(session)
        log.info("store %s (%s) deletion requested by %s", store.name, store.id, actor.username)
        return store

    def retry_store(self, actor: Actor, store_id: str) -> Store:
        with session_scope(self.db) as session:
            store = self._visible_store(session, actor, store_id)
            if store.status != StoreStatus.FAILED:
                raise InvalidStateError(f"Only failed stores can be retried; {store.name!r} is {store.status}.")
            if store.failure_kind == FailureKind.RESTORE:  # provisioning again would start half-restored data
                raise InvalidStateError("A failed restore is not retried: restore a backup again, or delete the store.")
            store.status = StoreStatus.REQUESTED
            store.health = "working"
            store.message = "Retry requested; waiting for the provisioner."
            store.attempts += 1
            store.provisioning_started_at = None
            store.next_attempt_at = None
            store.failure_kind = None
            store.shopper_status = ""
            store.shopper_message = ""
            store.shopper_checked_at = None
            store.updated_at = utcnow()
            session.add(store)
            audit.record(session, actor=actor.username, action="store.retry", store_id=store.id, store_name=store.name)
            intent_recorded(session)
        return store

    # -- queries --------------------------------------------------------------------------

    def get_store(self, actor: Actor, store_id: str) -> Store:
        with Session(self.db) as session:
            return self._visible_store(session, actor, store_id)

    def list_stores(self, actor: Actor, *, include_deleted: bool = False) -> list[Row[Any]]:
        """The acting user's own stores (SUMMARY_COLUMNS), newest first."""
        with self.db.connect() as connection:
            query = _OWN_STORES if include_deleted else _OWN_LIVE_STORES
            return list(connection.execute(query, {"owner_id": actor.id}).all())

    def list_all_stores(
        self,
        actor: Actor,
        *,
        owner: str | None = None,
        status: str | None = None,
        engine: str | None = None,
        limit: int | None = 1000,
    ) -> tuple[list[Row[Any]], int]:
        """Stores of every user with `owner` (username) column, newest first, and the match count.

        Admin only. Filters run in SQL; at most `limit` rows come back, with the total
        so the page can say how many more a filter would reveal.
        """
        self._require_admin(actor)
        with Session(self.db) as session:
            conditions = []
            if owner:
                conditions.append(User.username == owner)
            if status:
                conditions.append(Store.status == status)
            if engine:
                conditions.append(Store.engine == engine)
            query = (
                select(*SUMMARY_COLUMNS, col(User.username).label("owner"))
                .join(User, col(User.id) == Store.owner_id)
                .where(*conditions)
                .order_by(col(Store.created_at).desc())
            )
            if limit:
                query = query.limit(limit)
            rows = list(session.exec(query).all())
            total = session.exec(
                select(func.count()).select_from(Store).join(User, col(User.id) == Store.owner_id).where(*conditions)
            ).one()
            return rows, total

    def store_stats(self, actor: Actor) -> StoreStats:
        """Counts by status, stores created per day, and time-to-ready of every store."""
        self._require_admin(actor)
        with Session(self.db) as session:
            by_status = dict(session.exec(select(Store.status, func.count()).group_by(Store.status)).all())
            day = func.date(Store.created_at)
            per_day = {str(d): n for d, n in session.exec(select(day, func.count()).group_by(day).order_by(day)).all()}
            # Subtracted by the database: one float per store instead of two datetimes to
            # parse and tz-convert in Python (most of an Admin refresh with 10,000 stores).
            seconds = session.exec(
                select(_seconds_between(Store.provisioning_started_at, Store.ready_at, self.db.dialect.name)).where(
                    col(Store.ready_at).is_not(None), col(Store.provisioning_started_at).is_not(None)
                )
            ).all()
        return StoreStats(by_status, per_day, [round(float(s), 3) for s in seconds], sum(by_status.values()))

    def usage(self, actor: Actor) -> Usage:
        with Session(self.db) as session:
            counts = dict(
                session.exec(
                    select(Store.status, func.count())
                    .where(Store.owner_id == actor.id, col(Store.status).in_(LIVE))
                    .group_by(Store.status)
                ).all()
            )
        suspended = sum(counts.get(s, 0) for s in SUSPENDED_STATUSES)
        return Usage(used=sum(counts.values()), allowed=self.settings.max_stores_per_user, suspended=suspended)

    def audit_log(
        self, actor: Actor, *, search: str = "", store_id: str | None = None, limit: int = 200
    ) -> list[AuditEvent]:
        """Admins see everything; users see only events about their own stores."""
        with Session(self.db) as session:
            query = select(AuditEvent)
            if store_id is not None:
                self._visible_store(session, actor, store_id)
                query = query.where(AuditEvent.store_id == store_id)
            elif not actor.is_admin:
                raise PermissionDeniedError("Only administrators can read the audit log.")
            search = search.replace("\x00", "").strip()
            if search:
                pattern = f"%{search}%"
                query = query.where(
                    or_(
                        col(AuditEvent.actor).ilike(pattern),
                        col(AuditEvent.action).ilike(pattern),
                        col(AuditEvent.store_name).ilike(pattern),
                        col(AuditEvent.detail).ilike(pattern),
                    )
                )
            return list(session.exec(query.order_by(col(AuditEvent.at).desc()).limit(limit)).all())

    def cluster_status(self) -> ClusterStatus | None:
        with Session(self.db) as session:
            return session.get(ClusterStatus, 1)

    # -- helpers --------------------------------------------------------------------------

    def _lock_user(self, session: Session, actor: Actor) -> User:
        """Lock the owner's row so concurrent creates by one user are counted one by one.

        PostgreSQL: SELECT ... FOR UPDATE. SQLite: every transaction is BEGIN IMMEDIATE
        (see provisioning.db), which already serialises writers.
        """
        user = session.exec(select(User).where(User.id == actor.id).with_for_update()).first()
        if user is None or user.disabled:
            raise PermissionDeniedError("Your account is disabled or no longer exists.")
        return user

    def _visible_store(self, session: Session, actor: Actor, store_id: str) -> Store:
        valid = isinstance(store_id, str) and len(store_id) == 32 and all(c in "0123456789abcdef" for c in store_id)
        store = session.get(Store, store_id) if valid else None
        if store is None or (store.owner_id != actor.id and not actor.is_admin):
            raise NotFoundError("That store does not exist or is not yours.")
        return store

    @staticmethod
    def _require_admin(actor: Actor) -> None:
        if not actor.is_admin:
            raise PermissionDeniedError("Only administrators can do that.")
