"""Audit trail: one row per state change, written in the same transaction as the change."""

from __future__ import annotations

from sqlmodel import Session

from provisioning.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    store_id: str | None = None,
    store_name: str = "",
    detail: str = "",
) -> None:
    session.add(AuditEvent(actor=actor, action=action, store_id=store_id, store_name=store_name, detail=detail[:2000]))
