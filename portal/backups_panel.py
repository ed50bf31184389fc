"""The store page's "Backups" section: back up now, the store's backups, restoring one, and
copying one into a new store.

A restore replaces the store's data and takes the storefront offline, so it is offered
only behind an explicit confirmation, and only for the backups that succeeded. Every
refusal comes from the service layer (one backup or restore at a time, the store's state)
and is shown as its message; the page never decides on its own what is allowed. A copy
leaves this store alone: it orders a new store (a name, a plan, the owner's limits) that
starts from the backup's data, so it needs no confirmation.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.display import duration, human_size
from portal.feedback import user_errors
from portal.plans_panel import plan_label
from provisioning.actors import Actor
from provisioning.backups.commands import BACKUP_NEEDS_READY, NOT_CONFIGURED, restorable
from provisioning.models import Backup, BackupStatus, FailureKind, Store, StoreStatus, utcnow
from provisioning.names import MAX_LENGTH
from provisioning.platform import Platform
from provisioning.settings import Settings

REFRESH_SECONDS = 3
RESTORE_CONFIRMATION = (
    "The storefront goes offline while the backup is restored, and everything changed since the backup is lost"
)
BACKUP_ICON = {
    BackupStatus.PENDING: "⏳",
    BackupStatus.RUNNING: "🔄",
    BackupStatus.SUCCEEDED: "✅",
    BackupStatus.FAILED: "❌",
}
# The reconciler's restore phases (provisioning/backups/restore_steps.py), in order.
RESTORE_PHASES = (
    ("stopping", "Stop the storefront"),
    ("importing", "Import the backup's database and uploaded files"),
    ("starting", "Start the store and check it as a shopper would"),
)


def schedule_caption(settings: Settings) -> str:
    """Retention and schedule in one line, so the owner knows what is kept without asking."""
    hours = settings.backup_interval_hours
    schedule = f"scheduled every {hours} hour{'s' if hours != 1 else ''}" if hours else "no schedule"
    return f"Keeps the newest {settings.backup_retention} backups; {schedule}."


def backup_when(backup: Backup) -> str:
    return f"{backup.created_at:%Y-%m-%d %H:%M} UTC"


def backup_rows(backups: list[Backup]) -> list[dict[str, str]]:
    """The table's rows: words and sizes a person reads, not raw columns."""
    return [
        {
            "Time (UTC)": f"{b.created_at:%Y-%m-%d %H:%M}",
            "Kind": b.kind,
            "Status": f"{BACKUP_ICON.get(b.status, '')} {b.status}".strip(),
            "Size": human_size(b.size_bytes),
            "Message": b.message,
        }
        for b in backups
    ]


def restore_progress(store: Store) -> None:
    """The restore's phases as steps, for the page's live progress while `restoring`."""
    names = [name for name, _ in RESTORE_PHASES]
    current = names.index(store.restore_phase) if store.restore_phase in names else 0
    since = store.restore_started_at
    took = f" · {duration((utcnow() - since).total_seconds())} so far" if since else ""
    st.progress(current / len(names), text=f"Restoring a backup: step {current + 1} of {len(names)}{took}")
    for index, (_, title) in enumerate(RESTORE_PHASES):
        icon = "✅" if index < current else ("🔄" if index == current else "⏳")
        st.markdown(f"{icon} {title}")


def backups_section(platform: Platform, actor: Actor, store: Store) -> None:
    """Back up now, the list of backups, and restore; or why there are none to offer."""
    st.subheader("Backups")
    if not platform.settings.backups_configured:
        st.info(NOT_CONFIGURED, icon="🗄️")
        return
    st.caption(schedule_caption(platform.settings))
    backups: list[Backup] | None = None
    with user_errors():
        backups = platform.stores.list_backups(actor, store.id)
    if backups is None:
        return
    unfinished = any(b.status in (BackupStatus.PENDING, BackupStatus.RUNNING) for b in backups)
    _backup_now(platform, actor, store, unfinished=unfinished)
    _backup_table(platform, actor, store, watching=unfinished)
    succeeded = [b for b in backups if b.status == BackupStatus.SUCCEEDED]
    _restore_control(platform, actor, store, succeeded, unfinished=unfinished)
    _clone_control(platform, actor, store, succeeded)


def _backup_now(platform: Platform, actor: Actor, store: Store, *, unfinished: bool) -> None:
    if store.status != StoreStatus.READY:
        st.caption(BACKUP_NEEDS_READY.format(status=store.status))
    elif unfinished:
        st.caption("A backup of this store is running; its row below shows how it goes.")
    ready = store.status == StoreStatus.READY and not unfinished
    if st.button("Back up now", key="backup_now", disabled=not ready):
        with user_errors():
            platform.stores.backup_store(actor, store.id)
            st.session_state.setdefault("toasts", []).append(f"Backing up {store.name}")
            st.rerun()


def _backup_table(platform: Platform, actor: Actor, store: Store, *, watching: bool) -> None:
    """The backups, refreshed in place while one is pending or running (the fragment
    reruns alone); once all have finished, a full rerun offers the new one to restore."""

    @st.fragment(run_every=REFRESH_SECONDS if watching else None)
    def table() -> None:
        with user_errors():
            current = platform.stores.list_backups(actor, store.id)
            if not current:
                st.caption("No backups yet.")
            else:
                st.dataframe(pd.DataFrame(backup_rows(current)), hide_index=True, width="stretch")
            if watching and not any(b.status in (BackupStatus.PENDING, BackupStatus.RUNNING) for b in current):
                st.rerun()

    table()


def _backup_label(backup: Backup) -> str:
    return f"{backup_when(backup)} · {backup.kind} · {human_size(backup.size_bytes)}"


def _restore_control(
    platform: Platform, actor: Actor, store: Store, succeeded: list[Backup], *, unfinished: bool
) -> None:
    if store.status == StoreStatus.RESTORING:
        st.caption("A backup is being restored into this store; its progress is shown at the top of the page.")
        return
    if not succeeded:
        return
    if unfinished:
        st.caption("Restore: one backup or restore at a time; restore once the running backup has finished.")
        return
    if not restorable(store):
        st.caption(f"Restore: a backup can be put back into a running or suspended store; this one is {store.status}.")
        return
    if store.suspended_by_admin and not actor.is_admin:
        st.caption("Restore: an administrator suspended this store, so only an administrator can restore it.")
        return
    failed_restore = store.status == StoreStatus.FAILED and store.failure_kind == FailureKind.RESTORE
    with st.expander("Restore a backup", expanded=failed_restore):
        if failed_restore:
            st.warning("The last restore failed, so the store's data may be partly restored: restore again.")
        if store.status == StoreStatus.SUSPENDED:
            st.caption("The store is suspended: a restore starts it again, so it is back online once restored.")
        by_id = {b.id: b for b in succeeded}
        chosen = st.selectbox(
            "Backup",
            list(by_id),
            format_func=lambda i: _backup_label(by_id[i]),
            key="restore_backup",
        )
        confirmed = st.checkbox(RESTORE_CONFIRMATION, key="confirm_restore")
        if st.button("Restore", key="restore", type="primary", disabled=not confirmed or chosen is None):
            with user_errors():
                platform.stores.restore_backup(actor, store.id, chosen)
                st.session_state.setdefault("toasts", []).append(
                    f"Restoring {store.name} from the backup of {backup_when(by_id[chosen])}"
                )
                st.rerun()


def _clone_control(platform: Platform, actor: Actor, store: Store, succeeded: list[Backup]) -> None:
    """A new store from a succeeded backup: this store is left as it is, so no confirmation.
    The new store is ordered like any other (name, plan, limits) and opened on its page."""
    if not succeeded:
        return
    with st.expander("Copy a backup into a new store"):
        st.caption(
            "A new store of yours, with the data of the backup: same type as this store, which is left "
            "as it is. It counts toward your store limit like any new store."
        )
        by_id = {b.id: b for b in succeeded}
        chosen = st.selectbox(
            "Backup to copy", list(by_id), format_func=lambda i: _backup_label(by_id[i]), key="clone_backup"
        )
        name = st.text_input(
            "New store's name",
            key="clone_name",
            max_chars=MAX_LENGTH,
            placeholder=f"{store.name}-copy"[:MAX_LENGTH],
            help="3-30 characters: lowercase letters, digits and hyphens. It becomes the new store's web address.",
        )
        plans = {p.name: p for p in platform.stores.orderable_plans(actor)}
        current = plan_label(platform.stores.store_plan(store))
        plan = st.selectbox(
            "Plan",
            [None, *plans],
            format_func=lambda p: f"Same as this store: {current}" if p is None else plan_label(plans[p]),
            key="clone_plan",
        )
        if st.button("Copy into a new store", key="clone", disabled=chosen is None or not name):
            with user_errors():
                copy = platform.stores.clone_store(actor, store.id, chosen, name, plan=plan)
                st.session_state.setdefault("toasts", []).append(
                    f"Store {copy.name} ordered from the backup of {store.name} of {backup_when(by_id[chosen])}: "
                    "it is set up, then the backup is restored into it; it is also in your store list"
                )
                st.switch_page("pages/store.py", query_params={"id": copy.id})
