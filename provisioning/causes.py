"""Turn a namespace's Warning events into the one sentence a store owner needs.

Kubernetes reports trouble as events on many objects; a person wants the most useful
cause, in words, first. The ranking puts causes that will not fix themselves (quota,
scheduling, images) before transient noise (probe failures while starting).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from provisioning.readiness import parse_time


class EventLike(Protocol):
    reason: str
    message: str
    object: str


class TimedEvent(EventLike, Protocol):
    last_seen: str


E = TypeVar("E", bound=TimedEvent)


# (reason, substring of message or "", rank: lower is more useful, explanation prefix)
_RULES: list[tuple[str, str, int, str]] = [
    ("FailedCreate", "exceeded quota", 0, "The store's resource quota is too small"),
    ("FailedCreate", "forbidden", 1, "Kubernetes refused to create a pod"),
    ("FailedScheduling", "", 2, "No node has room to run the store"),
    ("ErrImagePull", "", 3, "A container image cannot be pulled"),
    ("ImagePullBackOff", "", 3, "A container image cannot be pulled"),
    ("InspectFailed", "", 3, "A container image is invalid"),
    ("ProvisioningFailed", "", 4, "Storage could not be provisioned"),
    ("FailedMount", "", 4, "A volume could not be mounted"),
    ("FailedAttachVolume", "", 4, "A volume could not be attached"),
    ("BackoffLimitExceeded", "", 5, "The store setup job failed repeatedly"),
    ("DeadlineExceeded", "", 5, "The store setup job ran out of time"),
    ("BackOff", "", 6, "A container keeps crashing"),
    ("FailedCreate", "", 7, "A pod could not be created"),
    ("Unhealthy", "", 9, "A health check is failing"),
]


# A pod that must run next to another (the WooCommerce setup Job next to the web pod, for
# its ReadWriteOnce volume) cannot be scheduled until that pod is: "0/3 nodes are
# available: 3 node(s) didn't match pod affinity rules" on almost every normal install.
# Only when nothing but affinity stands in the way is it waiting, not trouble.
_AFFINITY_ONLY = ("didn't match pod affinity", "didn't satisfy existing pods anti-affinity")
_REAL_SCHEDULING_TROUBLE = ("insufficient", "taint", "didn't match node selector", "node affinity", "volume")


def _waiting_for_affinity(reason: str, message: str) -> bool:
    lowered = message.lower()
    return (
        reason == "FailedScheduling"
        and any(needle in lowered for needle in _AFFINITY_ONLY)
        and not any(needle in lowered for needle in _REAL_SCHEDULING_TROUBLE)
    )


def since(events: Sequence[E], moment: datetime) -> list[E]:
    """Events last seen at or after `moment` (this attempt's); undated ones are kept."""
    kept = []
    for event in events:
        seen = parse_time(event.last_seen)
        if seen is None or seen >= moment:
            kept.append(event)
    return kept


# A StatefulSet's claim is bound by the storage provisioner a moment after the pod exists:
# until then the scheduler says "pod has unbound immediate PersistentVolumeClaims". While
# provisioning that is waiting, not trouble (is_persistent); if it lasts past the timeout
# it is still named, as a scheduling cause.
_UNBOUND_CLAIM = "unbound immediate persistentvolumeclaims"


def _classify(reason: str, message: str) -> tuple[int, str] | None:
    if _waiting_for_affinity(reason, message):
        return 10, "Waiting for a pod it must run next to"
    lowered = message.lower()
    for rule_reason, needle, rank, prefix in _RULES:
        if reason == rule_reason and needle in lowered:
            return rank, prefix
    return None


def explain(events: Sequence[EventLike], *, include_unknown: bool = True) -> str | None:
    """The most useful cause among `events`, as 'Explanation: object: message', or None."""
    best: tuple[int, str] | None = None
    for event in events:
        classified = _classify(event.reason, event.message)
        if classified is None:
            if not include_unknown:
                continue
            classified = (8, f"Warning {event.reason}")
        rank, prefix = classified
        text = f"{prefix}: {event.object}: {event.message.strip()}"
        if best is None or rank < best[0]:
            best = (rank, text[:900])
    return best[1] if best else None


def is_persistent(events: Sequence[EventLike]) -> bool:
    """True when some warning is of a kind that normally needs a person (not just slowness)."""
    return any(
        (c := _classify(e.reason, e.message)) is not None and c[0] <= 6 and not _unbound_claim_only(e.reason, e.message)
        for e in events
    )


def _unbound_claim_only(reason: str, message: str) -> bool:
    lowered = message.lower()
    return reason == "FailedScheduling" and _UNBOUND_CLAIM in lowered and "insufficient" not in lowered
