"""Admin: all stores, users, audit log. Only routed for admins, and checked again here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from portal.context import get_platform, require_actor
from portal.display import status_text
from portal.feedback import user_errors
from provisioning.models import Role, StoreStatus

actor = require_actor()
platform = get_platform()
if not actor.is_admin:
    st.error("Only administrators can open this page.")
    st.stop()

st.title("Admin")
tab_stores, tab_users, tab_audit = st.tabs(["Stores", "Users", "Audit log"])

with tab_stores, user_errors():
    c1, c2, c3 = st.columns(3)
    owner = c1.text_input("Owner", key="filter_owner").strip() or None
    status = c2.selectbox("Status", [None, *[s.value for s in StoreStatus]], key="filter_status")
    engine = c3.selectbox("Engine", [None, *platform.stores.engines()], key="filter_engine")
    rows = platform.stores.list_all_stores(actor, owner=owner, status=status, engine=engine, limit=5000)
    if not rows:
        st.info("No stores match.")
    else:
        frame = pd.DataFrame(
            [
                {
                    "Store": s.name,
                    "Owner": username,
                    "Status": status_text(s),
                    "Engine": s.engine,
                    "Message": s.message,
                    "Created": s.created_at,
                    "Namespace": s.namespace,
                }
                for s, username in rows
            ]
        )
        st.dataframe(frame, hide_index=True, width="stretch")
        stores_only = [s for s, _ in rows]
        chart1, chart2, chart3 = st.columns(3)
        chart1.markdown("**Stores by status**")
        chart1.bar_chart(pd.Series([s.status for s in stores_only]).value_counts())
        chart2.markdown("**Time to ready (minutes)**")
        minutes = [
            (s.ready_at - s.provisioning_started_at).total_seconds() / 60
            for s in stores_only
            if s.ready_at and s.provisioning_started_at
        ]
        if minutes:
            chart2.bar_chart(
                pd.cut(pd.Series(minutes), bins=min(10, len(minutes))).value_counts().sort_index().rename(str)
            )
        else:
            chart2.caption("No store has become ready yet.")
        chart3.markdown("**Stores created per day**")
        chart3.line_chart(pd.Series([s.created_at.date() for s in stores_only]).value_counts().sort_index())

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
