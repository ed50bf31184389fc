"""My stores: the signed-in user's stores, refreshing in place while any is in flight."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.context import get_platform, require_actor
from portal.display import any_in_flight, elapsed, relative_time, status_text
from portal.feedback import user_errors

REFRESH_SECONDS = 3

actor = require_actor()
platform = get_platform()

st.title("My stores")
usage = platform.stores.usage(actor)
left, right = st.columns([3, 1])
left.progress(
    min(1.0, usage.used / usage.allowed),
    text=f"{usage.used} of {usage.allowed} stores used"
    + (f" ({usage.suspended} suspended: they keep their storage, so they count)" if usage.suspended else ""),
)
if usage.remaining:
    right.page_link("pages/new_store.py", label="New store", icon="➕")
else:
    right.caption("Limit reached: delete a store to create another (suspended stores count too).")

for toast in st.session_state.pop("toasts", []):
    st.toast(toast)

stores = platform.stores.list_stores(actor)


def _table(stores: list) -> None:
    if not stores:
        st.info(
            "You have no stores yet. Choose **New store**, give it a name such as `my-shop`, "
            "and it will be running in a few minutes at its own address."
        )
        return
    frame = pd.DataFrame(
        [
            {
                "Store": s.name,
                "Status": status_text(s),
                "Progress": s.message,
                "Open": s.url if s.status == "ready" else None,
                "Created": s.created_at,
                "Created ago": relative_time(s.created_at),
                "Time": elapsed(s),
            }
            for s in stores
        ]
    )
    st.caption("Select a row to open the store's page.")
    selection = st.dataframe(
        frame,
        key="stores_table",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        width="stretch",
        column_order=["Store", "Status", "Progress", "Open", "Created ago", "Time"],
        column_config={
            "Open": st.column_config.LinkColumn("Open", display_text="Open store ↗"),
            "Created ago": st.column_config.TextColumn("Created"),
            "Time": st.column_config.TextColumn("Time", help="Time to ready, or time so far"),
        },
    )
    rows = selection.selection.rows if selection else []
    if rows:
        st.switch_page("pages/store.py", query_params={"id": stores[rows[0]].id})


# Only refresh while something is in flight; the fragment reruns alone, not the page.
@st.fragment(run_every=REFRESH_SECONDS if any_in_flight(stores) else None)
def live_table() -> None:
    with user_errors():
        current = platform.stores.list_stores(actor)
        _table(current)
        if not any_in_flight(current) and any_in_flight(stores):
            st.rerun()  # everything settled: stop the timer with a full rerun


live_table()
