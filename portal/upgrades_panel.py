"""The admin page's "Upgrades" tab: the stores not on today's pins, and upgrading all the
ready ones at once (behind a confirmation).

Moving a pin (a new WORDPRESS_IMAGE, say) changes no running store: each keeps its
recorded versions until upgraded (provisioning/catalog/versions.py). This list is where an
administrator sees what moving a pin left behind. "Upgrade all" only queues: the worker
runs MAX_CONCURRENT_UPGRADES at once, each backed up first and rolled back on failure,
so the page says that the rest wait rather than letting it look stuck.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.display import STATUS_LABEL
from portal.feedback import user_errors
from portal.versions_panel import UPGRADE_NEEDS_STORAGE
from provisioning.actors import Actor
from provisioning.models import StoreStatus
from provisioning.platform import Platform
from provisioning.upgrades.commands import OutdatedStore

UPGRADE_ALL_CONFIRMATION = (
    "Each store is backed up first and rolled back to that backup and its versions if it does not pass its "
    "checks; each storefront restarts during its upgrade"
)
QUEUED_KEY = "upgrades_queued"


def outdated_rows(outdated: list[OutdatedStore]) -> list[dict[str, str]]:
    """The table's rows: the status in words, the changes in one line."""
    return [
        {
            "Store": o.name,
            "Owner": o.owner,
            "Engine": o.engine,
            "Status": STATUS_LABEL.get(StoreStatus(o.status), (o.status,))[0],
            "Newer versions": o.summary,
        }
        for o in outdated
    ]


def concurrency_note(platform: Platform) -> str:
    """How many upgrades the worker runs at once, so a long queue does not look stuck."""
    limit = platform.settings.max_concurrent_upgrades
    return f"MAX_CONCURRENT_UPGRADES: {limit} upgrade{'s' if limit != 1 else ''} run at once; the rest wait their turn."


def queued_message(names: list[str]) -> str:
    if not names:
        return "No ready store needed an upgrade; nothing was queued."
    return f"Upgrade queued for {len(names)} store{'s' if len(names) != 1 else ''}: {', '.join(names)}."


def upgrades_section(platform: Platform, actor: Actor) -> None:
    """The outdated stores and "Upgrade all ready stores"; refusals as their messages."""
    st.subheader("Upgrades")
    queued = st.session_state.pop(QUEUED_KEY, None)
    if queued is not None:
        st.success(queued_message(queued))
    outdated: list[OutdatedStore] | None = None
    with user_errors():
        outdated = platform.stores.outdated_stores(actor)
    if outdated is None:
        return
    st.caption(concurrency_note(platform))
    if not outdated:
        st.info("Every store runs the versions new stores get today.", icon="✅")
        return
    st.dataframe(pd.DataFrame(outdated_rows(outdated)), hide_index=True, width="stretch")
    if not platform.settings.backups_configured:
        st.info(UPGRADE_NEEDS_STORAGE, icon="🗄️")
        return
    ready = sum(o.status == StoreStatus.READY for o in outdated)
    st.caption(
        f"{ready} of these {len(outdated)} stores are ready to upgrade; the others wait for a later "
        "upgrade (here, or on their store page) once they are ready."
    )
    confirmed = st.checkbox(UPGRADE_ALL_CONFIRMATION, key="confirm_upgrade_all")
    if st.button("Upgrade all ready stores", key="upgrade_all", type="primary", disabled=not confirmed or not ready):
        with user_errors():
            st.session_state[QUEUED_KEY] = platform.stores.upgrade_all(actor)
            st.rerun()
