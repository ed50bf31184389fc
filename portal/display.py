"""Pure presentation helpers (no Streamlit calls), so they are easy to unit test."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from provisioning.models import IN_FLIGHT, StoreStatus, utcnow


class StoreLike(Protocol):
    """A Store row or a summary row (provisioning.service.SUMMARY_COLUMNS)."""

    status: str
    health: str
    created_at: datetime
    provisioning_started_at: datetime | None
    ready_at: datetime | None
    deleting_started_at: datetime | None


STATUS_LABEL = {
    StoreStatus.REQUESTED: ("Queued", "gray", "⏳"),
    StoreStatus.PROVISIONING: ("Provisioning", "blue", "⚙️"),
    StoreStatus.READY: ("Ready", "green", "✅"),
    StoreStatus.FAILED: ("Failed", "red", "❌"),
    StoreStatus.DELETING: ("Deleting", "orange", "🗑️"),
    StoreStatus.DELETED: ("Deleted", "gray", "—"),
    StoreStatus.SUSPENDING: ("Suspending", "violet", "⏸️"),
    StoreStatus.SUSPENDED: ("Suspended", "violet", "⏸️"),
    StoreStatus.RESUMING: ("Resuming", "blue", "▶️"),
    StoreStatus.RESIZING: ("Changing plan", "blue", "📐"),
    StoreStatus.RESTORING: ("Restoring", "orange", "♻️"),
    StoreStatus.UPGRADING: ("Upgrading", "blue", "⬆️"),
}
# Statuses whose "erroring" health means "having trouble" (the store is being worked on).
WORKED_ON = (
    StoreStatus.PROVISIONING,
    StoreStatus.DELETING,
    StoreStatus.SUSPENDING,
    StoreStatus.RESUMING,
    StoreStatus.RESIZING,
    StoreStatus.RESTORING,
    StoreStatus.UPGRADING,
)
# An upgrade's phases (provisioning/upgrades/steps.py) in words. A failed upgrade rolls
# back through status `restoring` with phase `rolling_back`.
UPGRADE_PHASE_LABEL = {
    "queued": "Queued",
    "backup": "Taking a backup first",
    "applying": "Applying the new versions",
    "verifying": "Checking the store",
    "rolling_back": "Rolling back",
}
ROLLING_BACK = "rolling_back"


SHOPPER_LABEL = {
    "passed": "✅ A shopper's requests succeed",
    "failed": "⚠️ Shoppers cannot use the store",
    "not_verifiable": "➖ Not verifiable on a simulated cluster",
    "": "⏳ Not checked yet",
}


def upgrade_phase_text(phase: str) -> str:
    """The upgrade's phase in words (an unknown one as recorded, so nothing is hidden)."""
    return UPGRADE_PHASE_LABEL.get(phase, phase)


def upgrade_phase_of(store: StoreLike) -> str:
    """The phase of the upgrade the store is in, or "" (summary rows carry no phase: the
    lists show the status and the message, which says the phase too)."""
    phase = getattr(store, "upgrade_phase", None)
    if phase is None:
        return ""
    if store.status == StoreStatus.UPGRADING:
        return str(phase) or "queued"  # as the reconciler reads an unset phase
    return phase if store.status == StoreStatus.RESTORING and phase == ROLLING_BACK else ""


def status_text(store: StoreLike) -> str:
    label, _, icon = STATUS_LABEL.get(StoreStatus(store.status), (store.status, "gray", ""))
    if store.status in WORKED_ON and store.health == "erroring":
        return f"⚠️ {label} (having trouble)"
    phase = upgrade_phase_of(store)
    if phase:
        return f"{icon} {label}: {upgrade_phase_text(phase)}"
    if store.status == StoreStatus.SUSPENDED and getattr(store, "suspended_by_admin", False):
        return f"{icon} {label} by an administrator"
    if store.status == StoreStatus.READY and store.health == "degraded":
        return f"⚠️ {label} (degraded)"
    return f"{icon} {label}"


def shopper_text(status: str) -> str:
    """The shopper-path result in words; never a pass that was not seen."""
    return SHOPPER_LABEL.get(status, status)


def status_badge(store: StoreLike) -> str:
    """Streamlit markdown badge, e.g. ':green-badge[Ready]'."""
    label, color, _ = STATUS_LABEL.get(StoreStatus(store.status), (store.status, "gray", ""))
    if store.health == "erroring" and store.status in IN_FLIGHT:
        return f":orange-badge[{label}: having trouble]"
    if store.health == "degraded" and store.status == StoreStatus.READY:
        return f":orange-badge[{label}: degraded]"
    phase = upgrade_phase_of(store)
    if phase:
        return f":{color}-badge[{label}: {upgrade_phase_text(phase)}]"
    return f":{color}-badge[{label}]"


def relative_time(moment: datetime | None, *, now: datetime | None = None) -> str:
    if moment is None:
        return ""
    seconds = int(((now or utcnow()) - moment).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now" if seconds < 10 else f"{seconds} seconds ago"


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def human_size(size: int | None) -> str:
    """Bytes in the unit a person reads (1024-based, as `du -h`); empty when not known yet."""
    if size is None:
        return ""
    value, unit = float(size), "B"
    for bigger in ("KB", "MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def elapsed(store: StoreLike, *, now: datetime | None = None) -> str:
    """Time spent in the current phase: provisioning, deleting, or total to ready."""
    now = now or utcnow()
    if store.status == StoreStatus.READY and store.ready_at:
        start = store.provisioning_started_at or store.created_at
        return duration((store.ready_at - start).total_seconds())
    if store.status == StoreStatus.DELETING and store.deleting_started_at:
        return duration((now - store.deleting_started_at).total_seconds())
    if store.status == StoreStatus.PROVISIONING and store.provisioning_started_at:
        return duration((now - store.provisioning_started_at).total_seconds())
    if store.status == StoreStatus.REQUESTED:
        return duration((now - store.created_at).total_seconds())
    return ""


def step_icon(condition: dict[str, Any], store: StoreLike) -> str:
    if condition.get("status") == "True":
        return "✅"
    if condition.get("reason") == "NotVerifiable":
        return "➖"
    if store.status == StoreStatus.FAILED:
        return "❌"
    if store.health == "erroring":
        return "⚠️"
    return "⏳" if condition.get("reason") in ("Pending", "NotCreated") else "🔄"


def any_in_flight(stores: Sequence[StoreLike]) -> bool:
    return any(s.status in IN_FLIGHT for s in stores)
