"""Leader lease in the database: one reconciler works at a time, whatever runs.

A row with (holder, expires_at) is taken with a conditional UPDATE, which the database
makes atomic on SQLite and PostgreSQL alike. We chose this over a coordination.k8s.io
Lease because the database is already the one store of truth both the portal's thread
and the worker Deployment share, it needs no extra RBAC, and it keeps working when
the cluster is the thing that is down (the leader is the one that reports it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine as DbEngine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

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


def renew(db: DbEngine, holder: str, *, ttl_seconds: float) -> bool:
    """Extend a lease `holder` still holds; never takes an expired or foreign one."""
    now = utcnow()
    with session_scope(db) as session:
        result = session.execute(
            update(WorkerLease)
            .where(
                col(WorkerLease.name) == LEASE_NAME,
                col(WorkerLease.holder) == holder,
                col(WorkerLease.expires_at) >= now,
            )
            .values(expires_at=now + timedelta(seconds=ttl_seconds))
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


@contextmanager
def kept(db: DbEngine, holder: str, *, ttl_seconds: float) -> Iterator[None]:
    """Renew the lease every third of its TTL while a pass runs.

    A pass with 100 stores in flight can outlast the TTL (their applies alone took 27 s
    here): without renewal the lease expired mid-pass and the pass's writes were refused as
    a deposed worker's, though no other worker existed, and the work was done again. A
    paused process pauses this thread too, so a frozen worker still loses its lease."""
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(ttl_seconds / 3):
            try:
                if not renew(db, holder, ttl_seconds=ttl_seconds):
                    return  # lost: the pass's fenced writes will say so
            except Exception:  # the database is down: the pass's own writes fail too
                return

    thread = threading.Thread(target=heartbeat, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


class LeaseLostError(RuntimeError):
    """This worker no longer holds the lease: its pass must not write."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"reconciler {holder} lost its lease; another worker took over, this pass stops writing")


def fence(session: Session, holder: str) -> None:
    """The fencing check every write of a pass makes, inside the write's own transaction.

    A pass can outlive its lease (a worker paused by SIGSTOP, a VM freeze, a long GC): by
    then a standby may have taken over, and a late write from the deposed worker would undo
    the new leader's. The holder identity is unique per process, so it is the fencing
    token: the write proceeds only if this holder still has an unexpired lease. On
    PostgreSQL the row is locked FOR SHARE, so a takeover waits for this transaction to end
    and cannot slip in between the check and the write; SQLite's BEGIN IMMEDIATE already
    serialises writers.
    """
    query = select(WorkerLease.holder, WorkerLease.expires_at).where(col(WorkerLease.name) == LEASE_NAME)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = session.execute(query).first()
    if row is None or row.holder != holder or row.expires_at is None or row.expires_at < utcnow():
        raise LeaseLostError(holder)


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
