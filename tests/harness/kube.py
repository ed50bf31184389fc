"""Small helpers for tests that talk to the harness's control plane.

Why: every cluster test needs the same few things (a unique namespace that is usable at
once, polling with a deadline, acting as another user), and getting them subtly wrong
(e.g. creating a pod before the namespace's ``default`` ServiceAccount exists) makes tests
flaky rather than failing for a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.shared.waiting import wait_for

__all__ = ["create_namespace", "delete_namespace", "exists", "impersonating_client", "unique_name", "wait_for"]


def unique_name(prefix: str = "t") -> str:
    """A DNS-1123 label unique per call, so tests never collide or depend on order."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_namespace(
    api: client.ApiClient,
    name: str | None = None,
    *,
    labels: dict[str, str] | None = None,
    wait_for_service_account: bool = True,
) -> str:
    """Create a namespace and (by default) wait for its ``default`` ServiceAccount.

    The ServiceAccount admission plugin rejects pods until the controller-manager has created
    that account, which takes a few milliseconds after the namespace appears.
    """
    core = client.CoreV1Api(api)
    ns = name or unique_name("ns")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels=labels)))
    if wait_for_service_account:
        wait_for(
            lambda: exists(lambda: core.read_namespaced_service_account("default", ns)),
            timeout=30,
            message=f"ServiceAccount {ns}/default",
        )
    return ns


def delete_namespace(api: client.ApiClient, name: str, *, wait: bool = True, timeout: float = 60) -> None:
    """Delete a namespace; with ``wait`` poll until the API answers 404 for it."""
    core = client.CoreV1Api(api)
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise
    if wait:
        wait_for(
            lambda: not exists(lambda: core.read_namespace(name)),
            timeout=timeout,
            message=f"namespace {name} to be gone",
        )


def impersonating_client(kubeconfig: Path | str, user: str, groups: tuple[str, ...] = ()) -> client.ApiClient:
    """An admin-authenticated client that acts as ``user`` via impersonation headers.

    The Python client has no impersonation setting, but the API server honours the
    ``Impersonate-User``/``Impersonate-Group`` headers from an identity allowed to
    impersonate (the harness admin is in system:masters).
    """
    api = config.new_client_from_config(config_file=str(kubeconfig))
    api.set_default_header("Impersonate-User", user)
    # A single header value; several groups would need repeated headers, which the client's
    # default_headers dict cannot express. One group is enough for RBAC checks in tests.
    if len(groups) > 1:
        raise ValueError("impersonating_client supports at most one group")
    if groups:
        api.set_default_header("Impersonate-Group", groups[0])
    return api


def exists(read: Callable[[], object]) -> bool:
    """True if `read()` succeeds, False on 404; any other API error propagates."""
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
