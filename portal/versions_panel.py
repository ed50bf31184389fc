"""The store page's "Versions" section: what the store runs, whether newer versions are
pinned today, the administrator's "Upgrade" (behind a confirmation), and an upgrade's
progress.

A store keeps the versions it was provisioned or last upgraded with until an administrator
upgrades it (provisioning/catalog/versions.py), so the page compares the record with
today's pins rather than assuming a store runs them. The upgrade restarts the storefront
and may roll back, which is why the button waits for a checkbox that says so. Every
refusal (not ready, a backup running, no backup storage) comes from the service layer
and is shown as its message.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from portal.display import ROLLING_BACK, duration, upgrade_phase_of, upgrade_phase_text
from portal.feedback import user_errors
from provisioning.actors import Actor
from provisioning.backups.commands import NOT_CONFIGURED
from provisioning.catalog import versions
from provisioning.models import Store, StoreStatus, utcnow
from provisioning.platform import Platform
from provisioning.upgrades.commands import OutdatedStore

UPGRADE_CONFIRMATION = (
    "A backup is taken first; if the upgraded store does not pass its checks it is rolled back to this "
    "backup and these versions; the storefront restarts during the upgrade"
)
OWNERS_CAPTION = "An administrator upgrades stores."
# The service's own refusal (provisioning/upgrades/commands.py), said before the button.
UPGRADE_NEEDS_STORAGE = f"An upgrade takes a backup first, and it can roll back only to one. {NOT_CONFIGURED}"
# The phases an upgrade goes through when all is well, in order (rolling back is the way out).
UPGRADE_PHASES = ("queued", "backup", "applying", "verifying")


def version_rows(recorded: Mapping[str, str] | None) -> list[dict[str, str]]:
    """The store's versions as table rows, components in a stable order."""
    return [{"Component": key, "Version": value} for key, value in sorted((recorded or {}).items())]


def change_rows(before: Mapping[str, str] | None, after: Mapping[str, str] | None) -> list[dict[str, str]]:
    """From -> to for every component an upgrade changes (unchanged ones left out)."""
    return [
        {"Component": key, "From": old or "?", "To": new}
        for key, (old, new) in sorted(versions.changes(before, after or {}).items())
    ]


def newer_versions(platform: Platform, store: Store) -> str:
    """ "" when the store runs today's pins, else what would change, as the admin list says it."""
    diff = versions.changes(store.versions, versions.pinned(platform.settings, store.engine))
    if not diff:
        return ""
    return OutdatedStore(store.id, store.name, "", store.engine, store.status, diff).summary


def upgrade_progress(store: Store) -> None:
    """The upgrade's phase in words and what it changes, for the page's live progress
    while `upgrading` (or `restoring` to roll a failed one back)."""
    phase = upgrade_phase_of(store)
    if not phase:
        return
    since = store.upgrade_started_at
    took = f" · {duration((utcnow() - since).total_seconds())} so far" if since else ""
    if phase == ROLLING_BACK:
        st.warning(
            f"Rolling back: the upgraded store did not pass its checks, so the backup taken before the upgrade "
            f"and the previous versions are being put back{took}.",
            icon="↩️",
        )
    else:
        step = UPGRADE_PHASES.index(phase) if phase in UPGRADE_PHASES else 0
        st.progress(
            step / len(UPGRADE_PHASES),
            text=f"Upgrading: {upgrade_phase_text(phase)} (step {step + 1} of {len(UPGRADE_PHASES)}){took}",
        )
    rows = change_rows(store.upgrade_from, store.upgrade_to)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def versions_section(platform: Platform, actor: Actor, store: Store) -> None:
    """The recorded versions, and the way to today's pins (or why it is not offered)."""
    st.subheader("Versions")
    rows = version_rows(store.versions)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption("The versions this store runs were not recorded.")
    if upgrade_phase_of(store):
        st.caption(
            f"{upgrade_phase_text(upgrade_phase_of(store))}: an upgrade of this store is under way; "
            "its progress is shown at the top of the page."
        )
        return
    summary = newer_versions(platform, store)
    if not summary:
        st.caption("These are the versions new stores get today.")
        return
    st.info(f"Newer versions are available: {summary}", icon="⬆️")
    if not actor.is_admin:
        st.caption(OWNERS_CAPTION)
        return
    _upgrade_control(platform, actor, store)


def _upgrade_control(platform: Platform, actor: Actor, store: Store) -> None:
    if not platform.settings.backups_configured:
        st.caption(f"Upgrade: {UPGRADE_NEEDS_STORAGE}")
        return
    if store.status != StoreStatus.READY:
        st.caption(f"Upgrade: only a running store can be upgraded; this one is {store.status}.")
        return
    with st.expander("Upgrade this store"):
        confirmed = st.checkbox(UPGRADE_CONFIRMATION, key="confirm_upgrade")
        if st.button("Upgrade", key="upgrade", type="primary", disabled=not confirmed):
            with user_errors():
                platform.stores.upgrade_store(actor, store.id)
                st.session_state.setdefault("toasts", []).append(f"Upgrading {store.name}")
                st.rerun()
