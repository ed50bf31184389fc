"""The Platform object for this process, built once and shared by all sessions."""

from __future__ import annotations

import logging

import streamlit as st

from provisioning.actors import Actor
from provisioning.platform import Platform, shared_platform

log = logging.getLogger(__name__)


def get_platform() -> Platform:
    """The process-wide Platform (shared with the REST API), built on first use."""
    return shared_platform()


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
