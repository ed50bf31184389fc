"""Pieces shown on every page."""

from __future__ import annotations

import streamlit as st

from portal.display import relative_time
from provisioning.platform import Platform


def cluster_banner(platform: Platform) -> None:
    """What the reconciler last saw of the cluster (read from the DB, never from Kubernetes)."""
    status = platform.stores.cluster_status()
    if status is None:
        st.info("Connecting to the Kubernetes cluster... new stores wait as *requested* until it answers.")
        return
    if not status.reachable:
        tried = f"context **{status.context or 'current'}**" + (f" ({status.server})" if status.server else "")
        st.warning(
            f"Kubernetes cluster unreachable: tried {tried}, {relative_time(status.checked_at)}. "
            f"Reason: {status.error or 'unknown'}. New stores wait as *requested* and proceed once it answers. "
            f"No cluster of your own? Run `make run` with no kubeconfig (`unset KUBECONFIG`): it starts the "
            "built-in cluster.",
            icon="🔌",
        )
        return
    if status.simulated:
        st.info(
            f"Simulated cluster (pods are not real): context **{status.context}**, Kubernetes "
            f"{status.version}. Stores go through the real API server, but no container runs.",
            icon="🧪",
        )
