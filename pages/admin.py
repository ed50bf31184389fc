"""Admin: all stores, upgrades, users, audit log. Only routed for admins, and checked again here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.context import get_platform, require_actor
from portal.display import status_text
from portal.feedback import user_errors
from portal.upgrades_panel import upgrades_section
from provisioning.models import Role, StoreStatus

SHOWN = 500


def _all(value: str | None) -> str:
    return "All" if value is None else value


actor = require_actor()
platform = get_platform()
if not actor.is_admin:
    st.error("Only administrators can open this page.")
    st.stop()

st.title("Admin")
tab_stores, tab_upgrades, tab_users, tab_audit = st.tabs(["Stores", "Upgrades", "Users", "Audit log"])

with tab_stores, user_errors():
    stats = platform.stores.store_stats(actor)
    chart1, chart2, chart3 = st.columns(3)
    chart1.markdown(f"**Stores by status** ({stats.total} in all)")
    if stats.total:
        chart1.bar_chart(pd.Series(stats.by_status, name="stores"))
    else:
        chart1.caption("No stores yet.")
    if stats.seconds_to_ready:
        durations = pd.Series(stats.seconds_to_ready)
        unit, scale = ("minutes", 60) if durations.max() >= 300 else ("seconds", 1)
        chart2.markdown(f"**Time to ready ({unit})**")
        buckets = pd.cut(durations / scale, bins=min(10, max(1, len(durations)))).value_counts().sort_index()
        chart2.bar_chart(pd.Series(buckets.to_numpy(), index=[f"{i.left:.0f}-{i.right:.0f}" for i in buckets.index]))
    else:
        chart2.markdown("**Time to ready**")
        chart2.caption("No store has become ready yet.")
    chart3.markdown("**Stores created per day**")
    if stats.created_per_day:
        chart3.bar_chart(pd.Series(stats.created_per_day, name="stores"))

    c1, c2, c3 = st.columns(3)
    owner = c1.text_input("Owner", key="filter_owner").strip() or None
    status = c2.selectbox("Status", [None, *[s.value for s in StoreStatus]], key="filter_status", format_func=_all)
    engine = c3.selectbox("Engine", [None, *platform.stores.engines()], key="filter_engine", format_func=_all)
    rows, total = platform.stores.list_all_stores(actor, owner=owner, status=status, engine=engine, limit=SHOWN)
    if not rows:
        st.info("No stores match.")
    else:
        if total > len(rows):
            st.caption(f"Showing the newest {len(rows)} of {total} matching stores; filter to narrow down.")
        frame = pd.DataFrame(
            {
                "Store": [r.name for r in rows],
                "Owner": [r.owner for r in rows],
                "Status": [status_text(r) for r in rows],
                "Engine": [r.engine for r in rows],
                "Message": [r.message for r in rows],
                "Created": [r.created_at for r in rows],
                "Namespace": [r.namespace for r in rows],
            }
        )
        st.caption("Select a row to open the store's page (suspend or resume it there).")
        picked = st.dataframe(
            frame, key="admin_stores", on_select="rerun", selection_mode="single-row", hide_index=True, width="stretch"
        )
        if picked and picked.selection.rows:
            st.switch_page("pages/store.py", query_params={"id": rows[picked.selection.rows[0]].id})

with tab_upgrades:
    upgrades_section(platform, actor)

with tab_users:
    with user_errors():
        users = platform.users.list_users(actor)
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Username": u.username,
                        "Name": u.display_name,
                        "Role": u.role,
                        "Disabled": u.disabled,
                        "Created": u.created_at,
                    }
                    for u in users
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    with st.form("create_user", clear_on_submit=True):
        st.subheader("Create a user")
        new_username = st.text_input("Username")
        new_password = st.text_input("Initial password", type="password")
        new_role = st.selectbox("Role", [Role.USER.value, Role.ADMIN.value])
        if st.form_submit_button("Create user"):
            with user_errors():
                platform.users.create_user(actor, new_username, new_password, role=new_role)
                st.success(f"User {new_username} created.")
    with st.form("manage_user"):
        st.subheader("Disable, enable or reset a password")
        target = st.selectbox("User", [u.username for u in users] if users else [])
        new_pw = st.text_input("New password (for reset)", type="password")
        b1, b2, b3 = st.columns(3)
        disable = b1.form_submit_button("Disable")
        enable = b2.form_submit_button("Enable")
        reset = b3.form_submit_button("Reset password")
        if target and (disable or enable or reset):
            with user_errors():
                if reset:
                    platform.users.reset_password(actor, target, new_pw)
                    st.success(f"Password of {target} reset.")
                else:
                    platform.users.set_disabled(actor, target, disable)
                    st.success(f"{target} {'disabled' if disable else 'enabled'}.")

with tab_audit, user_errors():
    search = st.text_input("Search the audit log", key="audit_search")
    events = platform.stores.audit_log(actor, search=search, limit=500)
    st.dataframe(
        pd.DataFrame(
            [
                {"When": e.at, "Who": e.actor, "Action": e.action, "Store": e.store_name, "Detail": e.detail}
                for e in events
            ]
        ),
        hide_index=True,
        width="stretch",
    )
