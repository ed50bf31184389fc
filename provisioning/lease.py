"""Leader lease in the database: one reconciler works at a time, whatever runs.

A row with (holder, expires_at) is taken with a conditional UPDATE, which the database
makes atomic on SQLite and PostgreSQL alike. We chose this over a coordination.k8s.io
Lease because the database is already the one store of truth both the portal's thread
and the worker Deployment share, it needs no extra RBAC, and it keeps working when
the cluster is the thing that is down (the leader is the one that reports it).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine as DbEngine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from provisioning.db import session_scope
from provisioning.models import WorkerLease, utcnow

LEASE_NAME = "reconciler"


def try_acquire(db: DbEngine, holder: str, *, ttl_seconds: float) -> bool:
    """Take or renew the lease; True if `holder` holds it until now + ttl."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    with session_scope(db) as session:
        result = session.execute(
            update(WorkerLease)
            .where(
                col(WorkerLease.name) == LEASE_NAME,
                or_(
                    col(WorkerLease.holder) == holder,
                    col(WorkerLease.expires_at).is_(None),
                    col(WorkerLease.expires_at) < now,
                ),
            )
            .values(holder=holder, expires_at=expires)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
        if session.get(WorkerLease, LEASE_NAME) is not None:
            return False
    try:
        with session_scope(db) as session:
            session.add(WorkerLease(name=LEASE_NAME, holder=holder, expires_at=expires))
        return True
    except IntegrityError:
        return False  # another worker created it first


def release(db: DbEngine, holder: str) -> None:
    """Give the lease up on a clean stop so the next worker need not wait for expiry."""
    with session_scope(db) as session:
        session.execute(
            update(WorkerLease)
            .where(col(WorkerLease.name) == LEASE_NAME, col(WorkerLease.holder) == holder)
            .values(expires_at=None, holder="")
        )


def current_holder(db: DbEngine) -> str | None:
    with session_scope(db) as session:
        row = session.get(WorkerLease, LEASE_NAME)
        if row is None or row.expires_at is None or row.expires_at < utcnow():
            return None
        return row.holder
