"""New store: name it, pick the engine and the plan, and watch it come up on its page."""

from __future__ import annotations

import streamlit as st

from portal.context import get_platform, require_actor
from portal.feedback import user_errors
from portal.plans_panel import choose_plan
from provisioning.engines import PLANNED_ENGINES
from provisioning.errors import StorePlatformError, ValidationError
from provisioning.names import MAX_LENGTH, validate_store_name

actor = require_actor()
platform = get_platform()
settings = platform.settings

st.title("New store")
usage = platform.stores.usage(actor)
st.caption(
    f"You are using {usage.used} of {usage.allowed} stores."
    + (
        f" {usage.suspended} of them {'is' if usage.suspended == 1 else 'are'} suspended: a suspended store "
        "keeps its storage, so it counts toward the limit until you delete it."
        if usage.suspended
        else ""
    )
)

engines = platform.stores.engines()
options = list(engines) + list(PLANNED_ENGINES)
labels = {**engines, **{k: f"{v} (coming next)" for k, v in PLANNED_ENGINES.items()}}
ENGINE_CAPTIONS = {
    "woocommerce": "WordPress + WooCommerce, MariaDB",
    "medusa": "Medusa v2 server and worker, PostgreSQL, Redis; Store API and admin at /app",
}

name = st.text_input(
    "Store name",
    key="new_store_name",
    max_chars=MAX_LENGTH,
    placeholder="my-shop",
    help="3-30 characters: lowercase letters, digits and hyphens. It becomes the store's web address.",
)
name_error = None
if name:
    try:
        validate_store_name(name)
        st.caption(f"Your store will be at **{settings.store_url(name)}**")
    except ValidationError as error:
        name_error = str(error)
        st.error(name_error, icon="✏️")

engine = st.radio(
    "Store type",
    options=options,
    format_func=labels.get,
    key="new_store_engine",
    horizontal=True,
    captions=[ENGINE_CAPTIONS.get(option, "") for option in options],
)
plan = choose_plan(platform, actor, engine if engine in engines else "woocommerce")

if st.button("Create store", type="primary", key="create_store", disabled=usage.remaining == 0):
    with user_errors():
        try:
            store = platform.stores.create_store(actor, name, engine=engine, plan=plan)
        except ValidationError as error:
            st.error(str(error), icon="✏️")
        except StorePlatformError as error:
            st.error(str(error))
        else:
            st.session_state.setdefault("toasts", []).append(f"Store {store.name} ordered")
            st.switch_page("pages/store.py", query_params={"id": store.id})
if usage.remaining == 0:
    st.info(
        "You have reached your store limit. Delete a store to create another"
        + (" (suspended stores count too: they keep their storage)." if usage.suspended else ".")
    )
