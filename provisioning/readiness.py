"""Readiness rules and the reading of API objects: pure functions on objects as the API returns them.

Kept apart from kube.py (the transport) so the rules can be tested as data and reused by
whatever reads the objects (today a GET per object, later a watch cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from provisioning.engines.base import Check

# A termination message is at most 4 KiB (kubelet); a store page wants its last lines.
TERMINATION_MESSAGE_CHARS = 600


@dataclass
class Observation:
    """One condition as read from the cluster."""

    ready: bool
    reason: str
    message: str


def negated_time(value: str) -> float:
    moment = parse_time(value)
    return -moment.timestamp() if moment else 0.0


def pod_state(pod: dict[str, Any]) -> dict[str, Any]:
    status = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    waiting = [
        (cs.get("state") or {}).get("waiting", {}).get("reason", "")
        for cs in status.get("containerStatuses") or []
        if (cs.get("state") or {}).get("waiting")
    ]
    return {
        "pod": pod["metadata"]["name"],
        "phase": status.get("phase", "Pending"),
        "ready": ready,
        "restarts": sum(cs.get("restartCount", 0) for cs in status.get("containerStatuses") or []),
        "waiting": ", ".join(filter(None, waiting)),
        "node": (pod.get("spec") or {}).get("nodeName", ""),
    }


def event_fields(item: dict[str, Any]) -> dict[str, Any]:
    involved = item.get("involvedObject", {})
    last = item.get("lastTimestamp") or item.get("eventTime") or item.get("metadata", {}).get("creationTimestamp") or ""
    return {
        "reason": item.get("reason", ""),
        "message": item.get("message", ""),
        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
        "count": item.get("count") or 1,
        "last_seen": str(last),
    }


def rollout_pending(kind: str, obj: dict[str, Any]) -> str | None:
    """What a Deployment or StatefulSet still rolls out, as `kubectl rollout status` reads it.

    Enough available pods is not enough: in the middle of a rollout the old pods still count
    as available, and a store called ready then would lose them a second later. Fields the
    API has not reported yet are not held against the object (a fresh one has no status),
    but once the controller has observed the spec, a missing `updatedReplicas` is zero: the
    API omits zero counts. That is the state a Deployment shows when its replicas and
    template change at once: the controller first scales the old pods up (all available,
    none updated) and only then starts the new ones."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    want = (obj.get("spec") or {}).get("replicas", 1)
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if generation is not None and (observed is None or observed < generation):
        return "its controller has not seen the new spec yet"
    updated = status.get("updatedReplicas", 0 if observed is not None else None)
    if updated is not None and updated < want:
        return f"{updated}/{want} pods updated"
    if kind == "Deployment" and updated is not None and (status.get("replicas") or 0) > updated:
        return f"{status['replicas'] - updated} old pod(s) still terminating"
    if kind == "StatefulSet":
        current, target = status.get("currentRevision"), status.get("updateRevision")
        if current and target and current != target:
            return "pods not all on the new revision yet"
    return None


def evaluate(check: Check, obj: dict[str, Any]) -> Observation:
    """Readiness rules per kind, on the object as the API returned it (pure)."""
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    pending = rollout_pending(check.kind, obj) if check.kind in ("StatefulSet", "Deployment") else None
    if check.kind == "StatefulSet":
        want = spec.get("replicas", 1)
        ready = status.get("readyReplicas", 0) or 0
        if pending is not None:
            return Observation(False, "RollingOut", f"{check.title}: rolling out, {pending}.")
        if ready >= want:
            return Observation(True, "Ready", f"{check.title}: {ready}/{want} ready.")
        return Observation(False, "Starting", f"{check.title}: {ready}/{want} ready.")
    if check.kind == "Deployment":
        want = spec.get("replicas", 1)
        available = status.get("availableReplicas", 0) or 0
        if pending is None and available >= want:
            return Observation(True, "Available", f"{check.title}: {available}/{want} available.")
        for cond in status.get("conditions") or []:
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                return Observation(False, cond.get("reason", "ReplicaFailure"), cond.get("message", ""))
        if pending is not None:
            return Observation(False, "RollingOut", f"{check.title}: rolling out, {pending}.")
        return Observation(False, "Starting", f"{check.title}: {available}/{want} available.")
    if check.kind == "Job":
        if (status.get("succeeded") or 0) >= 1:
            return Observation(True, "Completed", f"{check.title}: completed.")
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                return Observation(
                    False, "JobFailed", f"{check.title} failed: {cond.get('message', cond.get('reason', ''))}"
                )
        failed = status.get("failed") or 0
        note = f" ({failed} failed attempt{'s' if failed != 1 else ''} so far)" if failed else ""
        return Observation(False, "Running", f"{check.title}: running{note}.")
    if check.kind == "Ingress":
        lb = (status.get("loadBalancer") or {}).get("ingress") or []
        address = ", ".join(i.get("ip") or i.get("hostname") or "" for i in lb)
        hosts = ", ".join(r.get("host", "") for r in spec.get("rules") or [])
        where = f" at {address}" if address else " (no address reported by the ingress controller yet)"
        return Observation(True, "Created", f"Routes {hosts}{where}.")
    return Observation(True, "Exists", f"{check.title} exists.")


def observe_namespace(namespace: dict[str, Any] | None, has_default_account: Callable[[], bool]) -> Observation:
    """A store namespace is ready when it is active and pods can be admitted (its default
    ServiceAccount exists). The account is read only when the rest holds."""
    if namespace is None:
        return Observation(False, "NotCreated", "The namespace does not exist yet.")
    if namespace.get("status", {}).get("phase") != "Active":
        return Observation(False, "Terminating", "The namespace is being deleted.")
    if not has_default_account():
        return Observation(False, "ServiceAccountPending", "Waiting for the default service account.")
    return Observation(True, "Active", "Namespace, quota, limits and network policies are in place.")


def observe_object(
    check: Check, obj: dict[str, Any] | None, job_pods: Callable[[], list[dict[str, Any]]]
) -> Observation:
    """`evaluate`, plus why a Job's attempt failed: its pods' termination message (the
    script's last line) says more than whatever Warning event happens to be around. The
    pods are read only for a Job with failed attempts."""
    if obj is None:
        return Observation(False, "NotCreated", f"{check.title}: not created yet.")
    observation = evaluate(check, obj)
    if check.kind == "Job" and not observation.ready and (obj.get("status") or {}).get("failed"):
        why = last_failure(job_pods())
        if why:
            observation.message = f"{observation.message.rstrip('.')}. Last error: {why}"
    return observation


def parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def last_failure(pods: list[dict[str, Any]]) -> str:
    """The newest terminated-with-error message among a Job's pods, one line, or "".

    With `terminationMessagePolicy: FallbackToLogsOnError` the kubelet fills it from the
    container's last log lines, where our scripts put "store setup failed: <step>: <why>".
    """
    found: list[tuple[str, str]] = []
    for pod in pods:
        pod_status = pod.get("status") or {}
        for status in [*(pod_status.get("initContainerStatuses") or []), *(pod_status.get("containerStatuses") or [])]:
            for state in (status.get("state") or {}, status.get("lastState") or {}):
                terminated = state.get("terminated") or {}
                if terminated and terminated.get("exitCode", 0) != 0:
                    text = (terminated.get("message") or terminated.get("reason") or "").strip()
                    if text:
                        found.append((str(terminated.get("finishedAt") or ""), text))
    if not found:
        return ""
    lines = [line.strip() for line in max(found)[1].splitlines() if line.strip()]
    failed = [line for line in lines if "failed" in line.lower()]
    line = (failed or lines)[-1]
    return line if len(line) <= TERMINATION_MESSAGE_CHARS else line[: TERMINATION_MESSAGE_CHARS - 3] + "..."
