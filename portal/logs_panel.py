"""The store page's "Container logs" panel: loaded on request, one container at a time."""

from __future__ import annotations

import streamlit as st

from portal.feedback import user_errors
from provisioning.actors import Actor
from provisioning.models import Store
from provisioning.platform import Platform


def store_logs_panel(platform: Platform, actor: Actor, store: Store) -> None:
    """Read when the owner asks (the reads go to every container's kubelet), then kept in
    the session until asked again, so refreshes of the page cost nothing."""
    state = f"logs:{store.id}"
    with st.expander("Container logs"):
        st.caption("The last 200 lines of each container, the setup job's included, read when you ask.")
        if st.button("Load logs", key="load_logs"):
            with user_errors():
                st.session_state[state] = platform.stores.store_logs(actor, store.id)
        logs = st.session_state.get(state)
        if logs is None:
            return
        if not logs:
            st.caption("No pods yet.")
            return
        labels = [entry.label for entry in logs]
        chosen = st.selectbox("Container", labels, key=f"logs_container:{store.id}")
        entry = logs[labels.index(chosen)] if chosen in labels else logs[0]
        if entry.unavailable:
            st.info(f"{entry.label}: {entry.unavailable}")
            return
        st.code(entry.text or "(no output yet)", language=None)
        st.download_button(
            "Download this log",
            entry.text,
            file_name=f"{store.name}-{entry.pod}-{entry.container}.log",
            mime="text/plain",
            key=f"logs_download:{store.id}",
        )
