"""Store Platform portal: `streamlit run app.py`.

Signs the user in, shows the cluster banner, and routes to the pages their role allows.
The pages read the database only; the reconciler (a thread here in local mode, its own
Deployment in the chart) does the Kubernetes work.
"""

from __future__ import annotations

import streamlit as st

from portal.auth import sign_in, sign_out
from portal.context import current_actor, get_platform
from portal.feedback import database_unavailable, show_database_unavailable, unexpected_error_message
from portal.layout import cluster_banner
from provisioning.actors import Actor

st.set_page_config(page_title="Store Platform", page_icon="🛒", layout="wide")


def pages_for(actor: Actor | None) -> list[st.Page]:
    """The pages a session may open: Sign in alone until signed in; Admin for admins."""
    if actor is None:
        return [st.Page(lambda: None, title="Sign in", url_path="login")]
    pages = [
        st.Page("pages/my_stores.py", title="My stores", icon=":material/storefront:", url_path="stores", default=True),
        st.Page("pages/new_store.py", title="New store", icon=":material/add_business:", url_path="new"),
        st.Page("pages/store.py", title="Store", icon=":material/info:", url_path="store"),
        st.Page("pages/api_tokens.py", title="API tokens", icon=":material/key:", url_path="tokens"),
        st.Page("pages/notifications.py", title="Notifications", icon=":material/webhook:", url_path="webhooks"),
    ]
    if actor.is_admin:
        pages.append(st.Page("pages/admin.py", title="Admin", icon=":material/admin_panel_settings:", url_path="admin"))
    return pages


def main() -> None:
    navigated = False
    try:
        platform = get_platform()
        sign_in(platform)
        actor = current_actor()
        navigated = True
        if actor is None:
            st.navigation(pages_for(None), position="hidden")
            return
        page = st.navigation(pages_for(actor))
        with st.sidebar:
            st.write(f"Signed in as **{actor.username}**" + (" (admin)" if actor.is_admin else ""))
            if st.button("Sign out", key="sign_out"):
                sign_out(platform)
                st.rerun()
        cluster_banner(platform)
        page.run()
    except Exception as error:  # rerun/stop are BaseException and pass through
        if not navigated:
            # Register the session's pages (without running one), so the URL keeps its page
            # for when things work again, and Streamlit never falls back to listing pages/.
            st.navigation(pages_for(current_actor()), position="hidden")
        if database_unavailable(error):
            show_database_unavailable(error)
        else:
            st.error(unexpected_error_message(error))


main()
