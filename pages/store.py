"""One store: progress as steps, links, credentials, retry and delete."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from portal.backups_panel import backups_section, restore_progress
from portal.context import get_platform, require_actor
from portal.display import elapsed, relative_time, shopper_text, status_badge, step_icon
from portal.feedback import user_errors
from portal.logs_panel import store_logs_panel
from portal.plans_panel import change_plan_control, plan_section
from portal.versions_panel import upgrade_progress, versions_section
from provisioning.engines import ENGINES
from provisioning.engines.medusa import PUBLISHABLE_KEY_HEADER, sign_in_email
from provisioning.errors import StorePlatformError
from provisioning.models import IN_FLIGHT, FailureKind, Store, StoreStatus

actor = require_actor()
platform = get_platform()

for toast in st.session_state.pop("toasts", []):
    st.toast(toast)

store_id = st.query_params.get("id", "")
if not store_id:
    st.title("Store")
    st.info("Choose a store on **My stores** to see its details here.")
    st.page_link("pages/my_stores.py", label="My stores", icon="🏪")
    st.stop()

try:
    store = platform.stores.get_store(actor, store_id)
except StorePlatformError as error:
    st.title("Store")
    st.error(str(error))
    st.page_link("pages/my_stores.py", label="Back to my stores", icon="🏪")
    st.stop()

st.title(f"Store {store.name}")


def suspension_notice(current: Store) -> None:
    """What suspended means for this store, and who may resume it."""
    if current.suspended_by_admin:
        reason = current.suspended_reason or "no reason given"
        st.warning(
            f"An administrator suspended this store. Reason: {reason}. "
            + (
                "You can resume it below."
                if actor.is_admin
                else "Only an administrator can resume it: contact your administrator."
            ),
            icon="⏸️",
        )
    since = relative_time(current.suspended_at)
    st.info(
        "While suspended the store is offline: its workloads are scaled to zero and it is off the "
        "ingress. Its data (volumes, credentials) is kept, so it still counts toward the store limit."
        + (f" Suspended {since}." if since else "")
    )


@st.fragment(run_every=3 if store.status in IN_FLIGHT else None)
def progress() -> None:
    with user_errors():
        current = platform.stores.get_store(actor, store_id)
        st.markdown(f"{status_badge(current)} &nbsp; {current.message}")
        time = elapsed(current)
        if time:
            st.caption(f"{'Ready after' if current.status == StoreStatus.READY else 'Elapsed'}: {time}")
        for condition in current.conditions or []:
            st.markdown(
                f"{step_icon(condition, current)} **{condition.get('title', condition['type'])}** — "
                f"{condition.get('message', '')}"
            )
        if current.status in (StoreStatus.SUSPENDING, StoreStatus.SUSPENDED):
            suspension_notice(current)
        upgrade_progress(current)  # upgrading, or restoring to roll a failed upgrade back
        if current.status == StoreStatus.RESTORING:
            restore_progress(current)
        if current.status == StoreStatus.READY:
            checked = relative_time(current.shopper_checked_at)
            st.markdown(
                f"**Shopper path**: {shopper_text(current.shopper_status)}"
                + (f" · checked {checked}" if checked else "")
            )
            if current.shopper_message:
                st.caption(current.shopper_message)
        if current.status != store.status and (current.status not in IN_FLIGHT or store.status not in IN_FLIGHT):
            st.rerun()


progress()

st.subheader("Links")
store_engine = ENGINES.get(store.engine)
admin_url = f"{store.url}{store_engine.admin_path() if store_engine else '/'}"
if store.status in (StoreStatus.READY, StoreStatus.RESIZING):
    st.markdown(f"- Storefront: [{store.url}]({store.url})\n- Admin: [{admin_url}]({admin_url})")
elif store.status in (StoreStatus.SUSPENDING, StoreStatus.SUSPENDED, StoreStatus.RESUMING):
    st.caption(f"{store.url} is offline while the store is suspended; it is served again once resumed and ready.")
elif store.status == StoreStatus.RESTORING:
    st.caption(f"{store.url} is offline while a backup is restored; it is served again once the store is ready.")
elif store.status == StoreStatus.UPGRADING:
    st.markdown(f"- Storefront: [{store.url}]({store.url})\n- Admin: [{admin_url}]({admin_url})")
    st.caption("The storefront restarts while the new versions are applied.")
else:
    st.caption(f"Will be served at {store.url} once ready.")
st.markdown(f"Namespace `{store.namespace}` · created {relative_time(store.created_at)} · type {store.engine}")
if store.status != StoreStatus.DELETED:
    plan_section(platform, store)
if store.status not in (StoreStatus.DELETING, StoreStatus.DELETED):
    versions_section(platform, actor, store)

if store.status not in (StoreStatus.DELETING, StoreStatus.DELETED):
    st.subheader("Admin sign-in")
    if store.engine == "medusa":
        st.markdown(f"E-mail: `{sign_in_email(name=store.name, admin_user=store.admin_user)}`")
    else:
        st.markdown(f"User: `{store.admin_user}`")
    revealed_key = f"revealed:{store.id}"
    if st.button("Reveal admin password", key="reveal"):
        with user_errors():
            st.session_state[revealed_key] = platform.stores.reveal_admin_password(actor, store.id)
    if st.session_state.get(revealed_key):
        st.code(st.session_state[revealed_key], language=None)
        st.caption("Copy it with the button on the right of the box.")
        if st.button("Hide password", key="hide_password"):
            st.session_state.pop(revealed_key, None)
            st.rerun()

if store.engine == "medusa" and store.status not in (StoreStatus.DELETING, StoreStatus.DELETED):
    st.subheader("How to use your Medusa store")
    st.markdown(
        f"- Store API (for a storefront or an app): `{store.url}/store/...`; every call carries the "
        f"header `{PUBLISHABLE_KEY_HEADER}` with the store's publishable key\n"
        f"- Admin: [{store.url}/app]({store.url}/app), sign in with the e-mail and password above"
    )
    if store.url.startswith("http://"):
        st.caption(
            "This platform serves stores without TLS, so the admin's session cookie is allowed over plain "
            "HTTP (MEDUSA_INSECURE_COOKIES). Fine on your own machine; use HTTPS anywhere else."
        )
    key_state = f"publishable:{store.id}"
    if st.button("Reveal publishable key", key="reveal_publishable_key"):
        with user_errors():
            st.session_state[key_state] = platform.stores.reveal_publishable_key(actor, store.id)
    publishable = st.session_state.get(key_state)
    if publishable:
        st.code(publishable, language=None)
        if st.button("Hide key", key="hide_publishable_key"):
            st.session_state.pop(key_state, None)
            st.rerun()
    st.markdown("**Try it**: list the products as a shopper would")
    st.code(
        f"curl -s -H '{PUBLISHABLE_KEY_HEADER}: {publishable or 'pk_...'}' {store.url}/store/products",
        language="bash",
    )

if store.status != StoreStatus.DELETED:
    with st.expander("Live details from the cluster: events, pods, quota"):
        st.caption("Read from Kubernetes when you ask, not on every refresh.")
        if st.button("Load details", key="load_insight"):
            with user_errors():
                st.session_state[f"insight:{store.id}"] = platform.stores.store_insight(actor, store.id)
        insight = st.session_state.get(f"insight:{store.id}")
        if insight is not None:
            st.markdown("**Pods**")
            if insight.pods:
                st.dataframe(pd.DataFrame(insight.pods), hide_index=True, width="stretch")
            else:
                st.caption("No pods yet.")
            st.markdown("**Resource use against the store's quota**")
            if insight.quota:
                st.dataframe(pd.DataFrame(insight.quota), hide_index=True, width="stretch")
            st.markdown("**Recent events** (warnings first)")
            if insight.events:
                st.dataframe(
                    pd.DataFrame(insight.events)[["type", "reason", "object", "message", "count", "last_seen"]],
                    hide_index=True,
                    width="stretch",
                )
            else:
                st.caption("No events.")
    store_logs_panel(platform, actor, store)

if store.status not in (StoreStatus.DELETING, StoreStatus.DELETED):
    backups_section(platform, actor, store)


def suspension_actions(store: Store, where: DeltaGenerator) -> None:
    """Suspend a ready store (admins acting on another's store give a reason), resume a suspended one."""
    if store.status == StoreStatus.READY:
        with where.expander("Suspend this store"):
            st.markdown(
                f"Suspending takes **{store.name}** offline: its workloads are scaled to zero and it is taken "
                "off the ingress. Its data (volumes, credentials) is kept and you can resume it later; "
                "meanwhile it still counts toward your store limit."
            )
            reason = ""
            if actor.is_admin and actor.id != store.owner_id:
                reason = st.text_input(
                    "Reason (the owner sees it; only an administrator can resume the store)", key="suspend_reason"
                )
            confirmed = st.checkbox(f"Take {store.name} offline", key="confirm_suspend")
            if st.button("Suspend store", key="suspend", disabled=not confirmed):
                with user_errors():
                    platform.stores.suspend_store(actor, store.id, reason=reason)
                    st.session_state.setdefault("toasts", []).append(f"Suspending {store.name}")
                    st.rerun()
    elif store.status == StoreStatus.SUSPENDED:
        if store.suspended_by_admin and not actor.is_admin:
            where.caption("Resume: an administrator suspended this store, so only an administrator can resume it.")
            return
        with where.expander("Resume this store", expanded=True):
            st.markdown(
                "Resuming starts the store's workloads again and puts it back on the ingress; it is ready "
                "again after the same checks as a new store."
            )
            if st.button("Resume store", key="resume", type="primary"):
                with user_errors():
                    platform.stores.resume_store(actor, store.id)
                    st.session_state.setdefault("toasts", []).append(f"Resuming {store.name}")
                    st.rerun()


st.subheader("Actions")
col_retry, col_delete = st.columns(2)
# A failed restore is not retried by provisioning again: its data may be partly restored,
# so the way back is restoring a backup again (the Backups section) or deleting the store.
retryable = store.status == StoreStatus.FAILED and store.failure_kind != FailureKind.RESTORE
if retryable and col_retry.button("Retry", key="retry", type="primary"):
    with user_errors():
        platform.stores.retry_store(actor, store.id)
        st.session_state.setdefault("toasts", []).append(f"Retrying {store.name}")
        st.rerun()
suspension_actions(store, col_retry)  # never beside Retry: a failed store cannot be suspended
change_plan_control(platform, actor, store, col_retry)
if store.status not in (StoreStatus.DELETING, StoreStatus.DELETED):
    with col_delete.expander("Delete this store"):
        st.warning(f"This deletes **{store.name}** and all its data. It cannot be undone.")
        typed = st.text_input(f"Type {store.name} to confirm", key="confirm_delete")
        if st.button("Delete store", key="delete", type="primary", disabled=typed != store.name):
            with user_errors():
                platform.stores.delete_store(actor, store.id)
                st.session_state.setdefault("toasts", []).append(f"Deleting {store.name}")
                st.rerun()
