"""The Platform object for this process, built once and shared by all sessions."""

from __future__ import annotations

import hashlib
import logging
import os

import streamlit as st

from provisioning.actors import Actor
from provisioning.logging_setup import configure_logging
from provisioning.platform import Platform
from provisioning.settings import Settings

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def _platform(database_url: str, environment_key: str) -> Platform:
    configure_logging()
    settings = Settings.from_env()
    platform = Platform.build(settings)
    if platform.admin_password_location:
        message = (
            f"First admin {settings.admin_username!r} created; its password is in {platform.admin_password_location}"
        )
        print(message, flush=True)
    if settings.run_reconciler:
        platform.start_reconciler_thread()
    return platform


def get_platform() -> Platform:
    """Keyed by the settings' environment so tests with different databases stay apart."""
    keys = sorted(k for k in os.environ if k.isupper())
    joined = "|".join(f"{k}={os.environ[k]}" for k in keys if not k.startswith("STREAMLIT"))
    return _platform(os.environ.get("DATABASE_URL", ""), hashlib.sha256(joined.encode()).hexdigest())


def current_actor() -> Actor | None:
    actor = st.session_state.get("actor")
    return actor if isinstance(actor, Actor) else None


def require_actor() -> Actor:
    """For pages: the signed-in actor; app.py never routes here without one."""
    actor = current_actor()
    if actor is None:
        st.warning("Please sign in.")
        st.stop()
    return actor
