"""A store's container logs, read on request for its owner (never on a page refresh).

Why a container may have no log to show, said per container rather than as an error for
the whole store: a pod on a kwok node runs nothing (simulated cluster), a pod not scheduled
or not started yet has written nothing, and one container's failure to answer must not
hide the others' logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client

TAIL_LINES = 200
MAX_TAIL_LINES = 5000
LIMIT_BYTES = 512 * 1024  # per container: a chatty container cannot fill the page
READ_TIMEOUT = (5, 15)

SIMULATED = "not available: this pod runs on a simulated (kwok) node, where no container runs"
NOT_SCHEDULED = "not available yet: the pod is not scheduled on a node"


@dataclass(frozen=True)
class ContainerLog:
    pod: str
    container: str
    text: str = ""
    unavailable: str = ""  # why there is no text; empty when the log was read

    @property
    def label(self) -> str:
        return f"{self.pod} / {self.container}"

    def as_json(self) -> dict[str, str]:
        return {"pod": self.pod, "container": self.container, "log": self.text, "unavailable": self.unavailable}


def containers_of(pod: dict[str, Any]) -> list[str]:
    """Init containers first (a setup step), then the pod's containers, in spec order."""
    spec = pod.get("spec") or {}
    return [c["name"] for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]


def unavailable_reason(pod: dict[str, Any], fake_nodes: frozenset[str]) -> str:
    """Why no container of ``pod`` can have a log, or "" when it may have one."""
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        return NOT_SCHEDULED
    if node in fake_nodes:
        return SIMULATED
    return ""


def read_logs(
    core: client.CoreV1Api,
    namespace: str,
    pods: list[dict[str, Any]],
    *,
    fake_nodes: frozenset[str],
    tail_lines: int = TAIL_LINES,
) -> list[ContainerLog]:
    """The last ``tail_lines`` of every container of ``pods``, pods sorted by name."""
    logs: list[ContainerLog] = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        name = pod["metadata"]["name"]
        reason = unavailable_reason(pod, fake_nodes)
        for container in containers_of(pod):
            if reason:
                logs.append(ContainerLog(name, container, unavailable=reason))
                continue
            try:
                text = core.read_namespaced_pod_log(
                    name,
                    namespace,
                    container=container,
                    tail_lines=tail_lines,
                    limit_bytes=LIMIT_BYTES,
                    _request_timeout=READ_TIMEOUT,
                )
            except client.ApiException as error:
                logs.append(ContainerLog(name, container, unavailable=f"not available: {_api_message(error)}"))
            except (urllib3.exceptions.HTTPError, OSError) as error:
                logs.append(ContainerLog(name, container, unavailable=f"not available: {type(error).__name__}"))
            else:
                logs.append(ContainerLog(name, container, text=str(text or "")))
    return logs


def _api_message(error: client.ApiException) -> str:
    """The API server's own sentence (e.g. 'container ... is waiting to start')."""
    import json

    try:
        message = json.loads(error.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return str(message or error.reason or error.status)[:300]
